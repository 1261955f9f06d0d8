"""`ebsd bench env`: the environment's own overhead on a real pair, and env steps per second with each clock.

Drives `EBSD-v1` with a fixed-k rule (stop once the draft has k tokens) over a few prompts of the built-in
suite, once per clock, timing every `reset` and `step` with `time.perf_counter()`. It reports:

- ``steps_per_s``: env steps per second of wall time (resets excluded); ``tokens_per_s`` counts resets in;
- ``outside_forward_share``: 1 - (time in model forward passes during steps) / (time in `step`), i.e.
  everything the decoder and the env do besides the models (entropy and signals, acceptance, cache rollback,
  observations, rewards, info) as a share of step time;
- ``env_layer_share``: the part of that which is the env layer alone: step time minus the decoder's own
  drafting and verification time, as a share of step time.

Resets (prompt prefill and the first draft) are timed apart and excluded from both shares.

The first episode of each clock is a warm-up and is not counted.

``--backend replay`` (with or without ``live``) also drives `EBSD-Replay-v1` on greedy traces of the same prompts
(``--traces``: a folder from `ebsd record`; without it the prompts are recorded into a temporary folder,
removed afterwards) with the same fixed-k rule, through `gym.make` and unwrapped, and the numpy `ReplayVectorEnv`
with ``--vector-envs`` episodes at once, and prints steps/s beside the live env's, the ratio, and the fixed-k
rule's share of `oracle-dp` on the traces.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import gymnasium as gym
import tyro
from tqdm import tqdm

import ebsd_env  # noqa: F401  (registers EBSD-v1)
from ebsd_env.cli.args import ModelArgs, check_model_args, parse
from ebsd_env.io import to_json, write_json_atomic


@dataclass
class BenchEnvConfig(ModelArgs):
    clocks: list[str] = field(default_factory=lambda: ["wall", "model"])
    """Clocks to measure (`wall`, `model`)."""
    prompts: Annotated[int, tyro.conf.arg(name="num-prompts")] = 3
    """Prompts of the built-in suite (the first of each category, in order); one episode each per clock."""
    k: int = 4
    """Draft length of the fixed-k rule that drives the env."""
    max_new_tokens: int = 64
    """Token budget of every episode."""
    out: Path | None = None
    """Optional JSON file for the results (written atomically)."""
    backend: list[Literal["live", "replay"]] = field(default_factory=lambda: ["live"])
    """`live` (the real decoder, per clock), `replay` (recorded traces, model clock), or both side by side."""
    traces: Path | None = None
    ("Trace folder for the replay backend: one `ebsd record --out` wrote for this pair (None: record the prompts "
     "into a temporary folder, removed afterwards).")
    vector_envs: int = 256
    """Sub-envs of the numpy vector replay env."""
    replay_seconds: float = 3.0
    """Seconds of stepping per replay measurement."""


def cached_pair(*args, **kwargs):
    """`ebsd_env.decoding.models.cached_pair`, imported when called: `ebsd bench env --help` imports no torch."""
    from ebsd_env.decoding.models import cached_pair as cached

    return cached(*args, **kwargs)


def _prompts(count: int) -> list[dict]:
    from ebsd_env.prompts import load_prompts

    rows, seen = [], set()
    for row in load_prompts(limit_per_category=1):
        if row["category"] not in seen:
            seen.add(row["category"])
            rows.append(row)
    if len(rows) < count:
        raise ValueError(f"only {len(rows)} prompt categories available, asked for {count}")
    return rows[:count]


def bench_clock(env: gym.Env, k: int, episodes: int) -> dict:
    """Run `episodes` + 1 episodes (the first is a warm-up); sum wall, forward and decoder times."""
    totals = dict(steps=0, step_s=0.0, reset_s=0.0, forward_s=0.0, decoder_s=0.0, tokens=0)
    decoder = env.unwrapped.decoder
    for episode in tqdm(range(episodes + 1), desc=f"clock={env.unwrapped.clock_kind}", leave=False):
        t0 = time.perf_counter()
        _, info = env.reset(seed=episode, options={"prompt_index": max(episode - 1, 0)})
        reset_s = time.perf_counter() - t0
        # The reset's first draft lands in the totals at the first verification: subtract it there.
        first = decoder.draft_steps[0] if decoder.draft_steps else None
        steps, step_s = 0, 0.0
        while True:
            t0 = time.perf_counter()
            *_, terminated, truncated, info = env.step(int(info["position"] >= k))
            step_s += time.perf_counter() - t0
            steps += 1
            if terminated or truncated:
                break
        if episode == 0:
            continue
        stats = decoder.stats
        totals["steps"] += steps
        totals["step_s"] += step_s
        totals["reset_s"] += reset_s
        totals["forward_s"] += stats.draft_forward_s + stats.verify_forward_s - (first.forward_s if first else 0.0)
        totals["decoder_s"] += stats.draft_s + stats.verify_s - (first.time_s if first else 0.0)
        totals["tokens"] += stats.new_tokens
    step_s = totals["step_s"]
    return {
        "clock": env.unwrapped.clock_kind,
        "episodes": episodes,
        "steps": totals["steps"],
        "new_tokens": totals["tokens"],
        "steps_per_s": totals["steps"] / step_s,
        "tokens_per_s": totals["tokens"] / (step_s + totals["reset_s"]),
        "outside_forward_share": 1.0 - totals["forward_s"] / step_s,
        "env_layer_share": 1.0 - totals["decoder_s"] / step_s,
        "step_s": step_s,
        "reset_s": totals["reset_s"],
    }


def bench_replay(traces, k: int, max_new_tokens: int, vector_envs: int, seconds: float) -> list[dict]:
    """Steps/s of the replay env (through `gym.make` and unwrapped) and of the vector env, fixed-k rule."""
    import numpy as np

    from ebsd_env.replay.vector import ReplayVectorEnv

    rows = []
    for label, env in (("replay (gym.make)", gym.make("EBSD-Replay-v1", traces=traces, stop_mode="include",
                                                       max_new_tokens=max_new_tokens)),
                       ("replay (unwrapped)", gym.make("EBSD-Replay-v1", traces=traces, stop_mode="include",
                                                       max_new_tokens=max_new_tokens).unwrapped)):
        steps, t0, episode = 0, time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            _, info = env.reset(seed=episode, options={"prompt_index": episode % len(traces)})
            episode += 1
            while True:
                *_, terminated, truncated, info = env.step(int(info["position"] >= k))
                steps += 1
                if terminated or truncated:
                    break
        elapsed = time.perf_counter() - t0
        rows.append({"backend": label, "steps": steps, "steps_per_s": steps / elapsed, "episodes": episode})
    vec = ReplayVectorEnv(traces, num_envs=vector_envs, stop_mode="include", max_new_tokens=max_new_tokens, seed=0)
    obs, _ = vec.reset(seed=0)
    position = 2 * vec.layout.history
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        actions = (np.rint(obs[:, position] * vec.max_draft_len) >= k).astype(np.int64)
        obs, *_ = vec.step(actions)
        steps += vector_envs
    elapsed = time.perf_counter() - t0
    rows.append({"backend": f"replay vector x{vector_envs}", "steps": steps, "steps_per_s": steps / elapsed,
                 "episodes": None})
    return rows


def oracle_shares(traces, specs: list[str], max_new_tokens: int, stop_mode: str = "include") -> dict:
    """Each policy's objective (tokens / time over all traces, model clock) as a share of oracle-dp's."""
    from ebsd_env.envs.objective import episodes_objective
    from ebsd_env.replay import ReplayEnv
    from ebsd_env.replay.oracle import optimal_rate
    from policies.registry import make_policy
    from policies.rollout import run_episode

    env = ReplayEnv(traces, stop_mode=stop_mode, max_new_tokens=max_new_tokens)
    best = optimal_rate(env.traces.traces, env.decode_clock.costs, env.max_draft_len, stop_mode, max_new_tokens)
    shares = {"oracle-dp_tokens_per_s": best}
    for spec in specs:
        policy = make_policy(spec, env=env)
        stats = [run_episode(env, policy, seed=0, options={"prompt_index": i}) for i in range(len(env.traces))]
        shares[spec] = episodes_objective(stats) / best
    return shares


def validate(config: BenchEnvConfig) -> None:
    """Every check that needs no model: bad input is refused before the pair loads or anything is recorded."""
    from ebsd_env.io import check_file_path
    from ebsd_env.prompts import BUILTIN_CATEGORIES
    from ebsd_env.timing.clock import CLOCK_KINDS

    check_model_args(config)
    if not config.backend:
        raise ValueError("--backend needs live, replay or both")
    unknown = [clock for clock in config.clocks if clock not in ("wall", "model")]
    if "live" in config.backend and (not config.clocks or unknown):
        raise ValueError(f"--clocks takes wall and/or model (of {', '.join(CLOCK_KINDS)}, the ones a live bench "
                         f"times), got {' '.join(config.clocks) or 'none'}")
    if not 1 <= config.prompts <= len(BUILTIN_CATEGORIES):
        raise ValueError(f"--num-prompts must be in [1, {len(BUILTIN_CATEGORIES)}] (one per category of the built-in "
                         f"suite), got {config.prompts}")
    for flag, value in (("--k", config.k), ("--max-new-tokens", config.max_new_tokens),
                        ("--vector-envs", config.vector_envs)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if not (math.isfinite(config.replay_seconds) and config.replay_seconds > 0):
        raise ValueError(f"--replay-seconds must be a finite number > 0, got {config.replay_seconds}")
    if config.traces is not None:
        if "replay" not in config.backend:
            raise ValueError("--traces feeds the replay backend: add --backend live replay (or --backend replay)")
        if not config.traces.is_dir() or not any(config.traces.glob("shard-*.parquet")):
            raise ValueError(f"--traces {config.traces}: no trace shards there; record them first with `ebsd record "
                             f"--out {config.traces}` for this pair, or leave --traces out to record the bench's "
                             "prompts into a temporary folder")
    if config.out is not None:
        check_file_path(config.out, "--out")


def _fmt(value: float, spec: str) -> str:
    """`value` in `spec`, or n/a where it is not a number (nothing measured: no steps, no live rate)."""
    return format(value, spec) if value is not None and math.isfinite(value) else "n/a"


def main(argv: list[str] | None = None) -> int:
    config = parse(BenchEnvConfig, argv, "bench env", description=__doc__, prog="ebsd bench env")
    validate(config)
    import torch

    from ebsd_env.decoding.kernels import configure_threads, machine_state, warn_if_busy

    configure_threads(config.threads)
    machine = machine_state()
    busy = warn_if_busy()
    pair = cached_pair(config.drafter, config.verifier, config.device, kernels=config.kernels)
    prompts = _prompts(config.prompts)
    rows = []
    if "live" in config.backend:
        for clock in config.clocks:
            env = gym.make("EBSD-v1", pair=pair, prompts=prompts, clock=clock,
                           max_new_tokens=config.max_new_tokens, max_draft_len=max(config.k, 16))
            rows.append(bench_clock(env, config.k, config.prompts))
    print(f"pair: {pair.describe()}  threads={torch.get_num_threads()}  fixed k={config.k}  "
          f"{config.prompts} episodes x {config.max_new_tokens} tokens per clock")
    keys = ("steps", "steps_per_s", "tokens_per_s", "outside_forward_share", "env_layer_share")
    if rows:
        print(f"{'clock':<8}" + "".join(f"{key:>24}" for key in keys))
        for row in rows:
            print(f"{row['clock']:<8}" + "".join(f"{_fmt(row[key], '.4g'):>24}" for key in keys))
    replay_rows, shares = [], {}
    if "replay" in config.backend:
        from ebsd_env.replay import TraceSet
        from ebsd_env.replay.record import record

        with tempfile.TemporaryDirectory(prefix="ebsd-bench-traces-") as scratch:  # removed even on an error
            folder = config.traces or Path(scratch)
            if config.traces is None:
                record(pair, prompts, folder, max_draft_len=16, max_new_tokens=config.max_new_tokens)
            traces = TraceSet.load(folder, pair=pair)
        replay_rows = bench_replay(traces, config.k, config.max_new_tokens, config.vector_envs,
                                   config.replay_seconds)
        live_rate = max((r["steps_per_s"] for r in rows), default=float("nan"))
        print(f"\n{'backend':<26}{'steps':>12}{'steps/s':>14}{'x live':>10}")
        for row in [{"backend": f"live ({r['clock']})", **r} for r in rows] + replay_rows:
            print(f"{row['backend']:<26}{row['steps']:>12}{_fmt(row['steps_per_s'], '.4g'):>14}"
                  f"{_fmt(row['steps_per_s'] / live_rate, '.4g'):>10}")
        shares = oracle_shares(traces, ["no-spec", f"fixed-k:k={config.k}", "fixed-k:k=2",
                                        "entropy-abs:theta=1.0"], config.max_new_tokens)
        print("share of oracle-dp (model clock, include mode): " +
              ", ".join(f"{key} {_fmt(value, '.3f')}" for key, value in shares.items()
                        if key != "oracle-dp_tokens_per_s"))
    result = {"pair": pair.describe(), "threads": torch.get_num_threads(), "config": {
        "k": config.k, "prompts": config.prompts, "max_new_tokens": config.max_new_tokens,
        "backend": list(config.backend)}, "clocks": rows, "replay": replay_rows, "oracle_dp_shares": shares,
        "kernels": pair.metadata.get("kernels"), "machine": machine, "machine_after": machine_state(),
        "busy_warning": busy}
    if busy:
        print(busy)
    if config.out is not None:
        write_json_atomic(config.out, result)
    print(to_json(result, indent=None), end="")  # strict JSON: null, never NaN
    return 0


if __name__ == "__main__":
    sys.exit(main())
