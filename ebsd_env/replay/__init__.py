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

from .decoder import ReplayDecoder
from .env import ReplayEnv
from .trace import Trace, TraceError, TraceSet

__all__ = ["ReplayDecoder", "ReplayEnv", "Trace", "TraceError", "TraceSet"]
