"""Does replay reproduce the live env? Run policies on both and count the episodes that differ.

    python -m eval.replay_validate --traces traces/suite --threads 1

runs each policy spec through the live `EBSD-v1` env (model clock, the traces' calibration) and through
`EBSD-Replay-v1` on the same prompts, in both stop modes, and compares per episode: the actions, the output,
the draft and accepted lengths of every block and the clock time (relative 1e-12); observations must agree to
1e-4 (the drafter's signals come from differently sized forward passes live and when recorded). Prints and
returns the mismatch rate and the largest observation deviation.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro
from tqdm import tqdm

DEFAULT_SPECS = ("fixed-k:k=3", "entropy-abs:theta=1.0", "svip", "bandit-ucb", "oracle-first-reject")


def same_episode(a: dict, b: dict, tolerance: float = 1e-4) -> tuple[bool, float]:
    """(the two episode results agree, largest observation deviation)."""
    same = (a["trace"]["actions"] == b["trace"]["actions"] and a["output_ids"] == b["output_ids"]
            and a["draft_lengths"] == b["draft_lengths"] and a["accepted_lengths"] == b["accepted_lengths"]
            and abs(a["decode_s"] - b["decode_s"]) <= 1e-12 * max(abs(a["decode_s"]), 1e-30))
    deviation = float("inf")
    if same:
        deviation = float(np.abs(np.asarray(a["trace"]["observations"]) -
                                 np.asarray(b["trace"]["observations"])).max())
    return same and deviation <= tolerance, deviation


def compare_live_replay(live, replay, specs, prompt_indices, progress: bool = False) -> dict:
    """Per spec: episodes compared, episodes that differ, largest observation deviation."""
    from policies.registry import make_policy
    from policies.rollout import run_episode

    out = {}
    for spec in tqdm(specs, desc=f"compare ({live.unwrapped.stop_mode})", disable=not progress):
        try:
            p_live, p_replay = make_policy(spec, env=live), make_policy(spec, env=replay)
        except ValueError:  # a rule of the other stop mode
            continue
        differ, worst = 0, 0.0
        for i in prompt_indices:
            a = run_episode(live, p_live, seed=0, options={"prompt_index": i})
            b = run_episode(replay, p_replay, seed=0, options={"prompt_index": i})
            same, deviation = same_episode(a, b)
            differ += not same
            worst = max(worst, deviation if same else worst)
        out[spec] = {"episodes": len(prompt_indices), "differ": differ, "max_obs_deviation": worst}
    return out


@dataclass
class ValidateConfig:
    traces: Path
    """Trace folder from `ebsd record` (recorded on the pair given by --drafter / --verifier)."""
    specs: list[str] = field(default_factory=lambda: list(DEFAULT_SPECS))
    """Policies to compare."""
    stop_modes: list[str] = field(default_factory=lambda: ["include", "exclude"])
    max_draft_len: int | None = None
    """Default: the recorded chain length."""
    limit: int | None = None
    """Compare on the first this many traces only."""
    drafter: str | None = None
    verifier: str | None = None
    threads: int | None = None
    out: Path | None = None
    """Optional JSON file for the result."""


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(ValidateConfig, args=sys.argv[1:] if argv is None else argv, description=__doc__,
                      prog="python -m eval.replay_validate")
    from ebsd_env.decoding.kernels import configure_threads, machine_state
    from ebsd_env.decoding.models import cached_pair
    from ebsd_env.envs.ebsd import EBSDEnv
    from ebsd_env.replay import ReplayEnv, TraceSet

    configure_threads(config.threads)
    pair = cached_pair(config.drafter, config.verifier)
    traces = TraceSet.load(config.traces, pair=pair)
    indices = list(range(len(traces) if config.limit is None else min(config.limit, len(traces))))
    prompts = [{"id": t.id, "category": t.category, "prompt": f"<trace {i}>", "trace_index": i}
               for i, t in enumerate(traces.traces)]
    results = {}
    for mode in config.stop_modes:
        replay = ReplayEnv(traces, stop_mode=mode, max_draft_len=config.max_draft_len, extra_signals=True)
        live = EBSDEnv(pair, prompts=prompts, max_draft_len=replay.max_draft_len,
                       max_new_tokens=replay.max_new_tokens, clock="model", cost_model=replay.decode_clock.costs,
                       stop_mode=mode, extra_signals=True)
        live._decoder_prompt = lambda row: traces[row["trace_index"]].prompt_ids  # the recorded token ids
        results[mode] = compare_live_replay(live, replay, config.specs, indices, progress=True)
    episodes = sum(r["episodes"] for m in results.values() for r in m.values())
    differ = sum(r["differ"] for m in results.values() for r in m.values())
    worst = max((r["max_obs_deviation"] for m in results.values() for r in m.values()), default=0.0)
    summary = {"episodes": episodes, "differ": differ, "mismatch_rate": differ / episodes if episodes else None,
               "max_obs_deviation": worst, "results": results, "machine": machine_state()}
    print(f"{differ}/{episodes} episodes differ between live and replay (mismatch rate "
          f"{summary['mismatch_rate']:.3g}); largest observation deviation {worst:.2g}")
    print(json.dumps(summary))
    if config.out is not None:
        from ebsd_env.io import write_json_atomic

        write_json_atomic(config.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
