"""Replay: record greedy decoding traces once, then run any stopping policy on them exactly and fast.

- `trace`: the trace format (sharded Parquet) and `TraceSet`;
- `record`: `ebsd record` (traces through the live decoder's step API);
- `decoder`: `ReplayDecoder`, the decoder protocol served from traces;
- `env`: `EBSD-Replay-v1` (`ReplayEnv`: `EBSDEnv` over a `ReplayDecoder`);
- `vector`: `ReplayVectorEnv` (many replay episodes stepped in numpy at once) and its SB3 VecEnv adapter;
- `oracle`: the optimal stopping plan for a trace under a clock (`oracle-dp`).
- `multi`, `oracle_multi`: aligned traces of several drafters, `EBSD-Multi-Replay-v1` and oracle-dp over (drafter, k).

See docs/replay.md.
"""

import importlib

# Exported names -> their module, imported on first use (PEP 562): `ebsd record --help` imports
# `ebsd_env.replay.record` without torch.
_LAZY = {"ReplayDecoder": ".decoder", "ReplayEnv": ".env", "Trace": ".trace", "TraceError": ".trace",
         "TraceSet": ".trace"}

__all__ = ["ReplayDecoder", "ReplayEnv", "Trace", "TraceError", "TraceSet"]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value
