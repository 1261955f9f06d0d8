"""EBSD Gym: a real speculative decoder, its entropy signals, and a Gymnasium environment over it."""

from gymnasium.envs.registration import register

from .clock import CLOCK_KINDS, Clock, make_clock
from .cost_model import CostModel, cached_cost_model, calibrate
from .decoder import STOP_MODES, DecoderError, DraftStep, Generation, SpeculativeDecoder, VerifyResult, rollback_cache
from .entropy import ENTROPY_TYPES, EntropyConfig
from .env import DEFAULT_STOP_MODE, EBSDEnv
from .models import EMBEDDED_VERIFIER, ModelLoadError, ModelPair, cached_pair, load_pair
from .objective import OBJECTIVE, episodes_objective, objective
from .observation import ObservationLayout

__all__ = [
    "CLOCK_KINDS", "Clock", "make_clock",
    "CostModel", "DEFAULT_STOP_MODE", "EBSDEnv", "OBJECTIVE", "STOP_MODES", "episodes_objective", "objective",
    "calibrate", "cached_cost_model",
    "DecoderError", "DraftStep", "ENTROPY_TYPES", "EMBEDDED_VERIFIER", "EntropyConfig", "Generation",
    "ModelLoadError", "ModelPair", "ObservationLayout", "SpeculativeDecoder", "VerifyResult", "cached_pair",
    "load_pair", "rollback_cache",
]

# Wall-clock rewards differ from run to run; the model clock (a calibrated cost model) makes the env deterministic.
register(id="EBSD-v1", entry_point="ebsd_env.env:EBSDEnv", nondeterministic=True)
register(id="EBSD-Deterministic-v1", entry_point="ebsd_env.env:EBSDEnv", kwargs={"clock": "model"})
# Replays of recorded greedy traces (ebsd_env.replay): the same env, no models, thousands of steps per second.
register(id="EBSD-Replay-v1", entry_point="ebsd_env.replay.env:ReplayEnv", kwargs={"clock": "model"})
