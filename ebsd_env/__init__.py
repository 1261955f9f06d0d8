"""EBSD Gym: a real speculative decoder, its entropy signals, and a Gymnasium environment over it."""

import importlib

from gymnasium.envs.registration import register

# Exported names -> the module that defines them, imported on first use (PEP 562): `import ebsd_env` (and so
# `ebsd <command> --help`) then costs no torch / transformers import.
_LAZY = {
    "STOP_MODES": ".envs.block_rules",
    "DecoderError": ".decoding.decoder",
    "DraftStep": ".decoding.decoder",
    "Generation": ".decoding.decoder",
    "SpeculativeDecoder": ".decoding.decoder",
    "VerifyResult": ".decoding.decoder",
    "rollback_cache": ".decoding.decoder",
    "ENTROPY_TYPES": ".decoding.entropy",
    "EntropyConfig": ".decoding.entropy",
    "EMBEDDED_VERIFIER": ".decoding.models",
    "ModelLoadError": ".decoding.models",
    "ModelPair": ".decoding.models",
    "cached_pair": ".decoding.models",
    "load_pair": ".decoding.models",
    "DEFAULT_STOP_MODE": ".envs.block_rules",
    "EBSDEnv": ".envs.ebsd",
    "OBJECTIVE": ".envs.objective",
    "episodes_objective": ".envs.objective",
    "objective": ".envs.objective",
    "ObservationLayout": ".envs.observation",
    "cached_cost_model": ".timing.calibration",
    "calibrate": ".timing.calibration",
    "CLOCK_KINDS": ".timing.clock",
    "Clock": ".timing.clock",
    "make_clock": ".timing.clock",
    "CostModel": ".timing.cost_model",
}

__all__ = [
    "CLOCK_KINDS", "Clock", "make_clock",
    "CostModel", "DEFAULT_STOP_MODE", "EBSDEnv", "OBJECTIVE", "STOP_MODES", "episodes_objective", "objective",
    "calibrate", "cached_cost_model",
    "DecoderError", "DraftStep", "ENTROPY_TYPES", "EMBEDDED_VERIFIER", "EntropyConfig", "Generation",
    "ModelLoadError", "ModelPair", "ObservationLayout", "SpeculativeDecoder", "VerifyResult", "cached_pair",
    "load_pair", "rollback_cache",
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


# Wall-clock rewards differ from run to run; the model clock (a calibrated cost model) makes what the env charges
# deterministic: rewards and clock times (the statistics' `wall_*` times are measured on every clock).
register(id="EBSD-v1", entry_point="ebsd_env.envs.ebsd:EBSDEnv", nondeterministic=True)
register(id="EBSD-Deterministic-v1", entry_point="ebsd_env.envs.ebsd:EBSDEnv", kwargs={"clock": "model"})
# Replays of recorded greedy traces (ebsd_env.replay): the same env, no models, thousands of steps per second.
register(id="EBSD-Replay-v1", entry_point="ebsd_env.replay.env:ReplayEnv", kwargs={"clock": "model"})
# Several drafters on one verifier (ebsd_env.decoding.multi): the agent picks each block's drafter, then when to stop.
register(id="EBSD-Multi-v1", entry_point="ebsd_env.envs.multi:MultiEnv", nondeterministic=True)
register(id="EBSD-Multi-Replay-v1", entry_point="ebsd_env.replay.multi:MultiReplayEnv", kwargs={"clock": "model"})
