"""EBSD Gym: a real speculative decoder, its entropy signals, and a Gymnasium environment over it."""

from gymnasium.envs.registration import register

from .decoding.decoder import (
    STOP_MODES,
    DecoderError,
    DraftStep,
    Generation,
    SpeculativeDecoder,
    VerifyResult,
    rollback_cache,
)
from .decoding.entropy import ENTROPY_TYPES, EntropyConfig
from .decoding.models import EMBEDDED_VERIFIER, ModelLoadError, ModelPair, cached_pair, load_pair
from .envs.ebsd import DEFAULT_STOP_MODE, EBSDEnv
from .envs.objective import OBJECTIVE, episodes_objective, objective
from .envs.observation import ObservationLayout
from .timing.calibration import cached_cost_model, calibrate
from .timing.clock import CLOCK_KINDS, Clock, make_clock
from .timing.cost_model import CostModel

__all__ = [
    "CLOCK_KINDS", "Clock", "make_clock",
    "CostModel", "DEFAULT_STOP_MODE", "EBSDEnv", "OBJECTIVE", "STOP_MODES", "episodes_objective", "objective",
    "calibrate", "cached_cost_model",
    "DecoderError", "DraftStep", "ENTROPY_TYPES", "EMBEDDED_VERIFIER", "EntropyConfig", "Generation",
    "ModelLoadError", "ModelPair", "ObservationLayout", "SpeculativeDecoder", "VerifyResult", "cached_pair",
    "load_pair", "rollback_cache",
]

# Wall-clock rewards differ from run to run; the model clock (a calibrated cost model) makes the env deterministic.
register(id="EBSD-v1", entry_point="ebsd_env.envs.ebsd:EBSDEnv", nondeterministic=True)
register(id="EBSD-Deterministic-v1", entry_point="ebsd_env.envs.ebsd:EBSDEnv", kwargs={"clock": "model"})
# Replays of recorded greedy traces (ebsd_env.replay): the same env, no models, thousands of steps per second.
register(id="EBSD-Replay-v1", entry_point="ebsd_env.replay.env:ReplayEnv", kwargs={"clock": "model"})
# Several drafters on one verifier (ebsd_env.decoding.multi): the agent picks each block's drafter, then when to stop.
register(id="EBSD-Multi-v1", entry_point="ebsd_env.envs.multi:MultiEnv", nondeterministic=True)
register(id="EBSD-Multi-Replay-v1", entry_point="ebsd_env.replay.multi:MultiReplayEnv", kwargs={"clock": "model"})
