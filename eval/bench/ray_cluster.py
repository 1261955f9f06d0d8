"""Ray benchmarks behind docs/ray.md: ``python -m eval.bench.ray_cluster record|tune``.

``record``: the cost of recording traces with the embedded pair, per prompt and per token, on this machine with
one torch thread (`ebsd record`'s own timer: decoding only, no model loading or clock calibration). The
recorded folder then serves ``tune``; docs/ray.md projects the 480-prompt Spec-Bench recording on N workers
from it.

    python -m eval.bench.ray_cluster record --traces /tmp/ray-traces --out docs/results/bench-ray/record.json

``tune``: the same replay tuning sweep (`ebsd tune --backend ray --traces`, TPE over one rule, every trial the
rule over all traces: `--prompts-per-category` covers them) with 1 and with 2 concurrent workers of one local
Ray instance, interleaved and repeated; the wall times' medians and their ratio, with the machine's load
average before each sweep and at the end.

    python -m eval.bench.ray_cluster tune --traces /tmp/ray-traces --out docs/results/bench-ray/tune.json
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from ebsd_env.io import write_json_atomic


@dataclass
class BenchRayConfig:
    command: Literal["record", "tune"]
    """`record`: the per-prompt recording cost (and the traces); `tune`: 1 vs 2 workers on a replay sweep."""
    traces: Path
    """Trace folder: written by `record` (a fresh one: a resumed recording measures nothing), read by `tune`."""
    out: Path
    """Result JSON (written atomically)."""
    pair: Literal["embedded", "tiny-noisy"] = "embedded"
    """`record`: the pair. `tiny-noisy` (the config-built test pair; prompts cut to 200 characters) records
    hundreds of traces in a minute: a replay sweep over them makes trials long enough to time Ray's scaling."""
    limit_per_category: int = 2
    """`record`: prompts per built-in category."""
    max_new_tokens: int = 64
    """`record`: token budget per prompt."""
    max_draft_len: int = 8
    """`record`: chain length per position."""
    threads: int = 1
    """`record`: torch threads."""
    trials: int = 8
    """`tune`: trials per sweep."""
    repeats: int = 3
    """`tune`: sweeps per arm (interleaved: 1, 2, 1, 2, ...)."""
    workers: tuple[int, ...] = (1, 2)
    """`tune`: concurrent trials of each arm."""
    replicate: int = 1
    """`tune`: sweep over this many copies of the traces (replay work is the same for a copy as for a new
    trace): trials as long as on a full benchmark's traces, so Ray's fixed costs do not hide its scaling."""


def bench_record(config: BenchRayConfig) -> dict:
    from ebsd_env.decoding.kernels import configure_threads, machine_state
    from ebsd_env.decoding.models import cached_pair
    from ebsd_env.prompts import load_prompts
    from ebsd_env.replay.record import record

    if config.traces.exists() and any(config.traces.glob("shard-*.parquet")):
        raise ValueError(f"--traces {config.traces} holds shards already: give a new folder (a resumed recording "
                         "measures nothing)")
    configure_threads(config.threads)
    rows = load_prompts(None, limit_per_category=config.limit_per_category)
    if config.pair == "tiny-noisy":
        from ebsd_env.decoding.tiny import tiny_pair

        # Character-level tokens: the built-in prompts, cut to fit the tiny context with the budget.
        rows = [{**row, "prompt": str(row.get("prompt") or row["turns"][0])[:200]} for row in rows]
        pair = tiny_pair("noisy", noise=0.1, context=512)
    else:
        pair = cached_pair("feature-v1")  # the feature drafter v1, as the committed result and the verdict's traces
    before = machine_state()
    summary = record(pair, rows, config.traces, config.max_draft_len, config.max_new_tokens)
    return {"command": "record", "pair": config.pair, "prompts": summary["recorded_prompts"],
            "tokens": summary["tokens"], "seconds": summary["seconds"],
            "seconds_per_prompt": summary["seconds"] / summary["recorded_prompts"],
            "seconds_per_token": summary["seconds"] / summary["tokens"], "max_new_tokens": config.max_new_tokens,
            "max_draft_len": config.max_draft_len, "threads": config.threads, "machine_before": before,
            "machine_after": machine_state()}


def bench_tune(config: BenchRayConfig) -> dict:
    from ebsd_env.cli import main as ebsd
    from ebsd_env.decoding.kernels import machine_state, warn_if_busy
    from ebsd_env.ray_support import init_ray
    from ebsd_env.replay import TraceSet

    source = config.traces
    if config.replicate > 1:
        source = Path(tempfile.mkdtemp(prefix="bench-ray-traces-"))
        shards = sorted(config.traces.glob("shard-*.parquet"))
        for copy in range(config.replicate):
            for n, shard in enumerate(shards):
                shutil.copyfile(shard, source / f"shard-{copy * len(shards) + n:05d}.parquet")
        shutil.copyfile(config.traces / "cost_model.json", source / "cost_model.json")
    recorded = TraceSet.load(source)  # replay within what was recorded
    ray = init_ray(num_cpus=max(config.workers))  # once: the sweeps below reuse this Ray instance
    before = machine_state()
    warn_if_busy(own_threads=1)
    times: dict[int, list[float]] = {w: [] for w in config.workers}
    loads: dict[int, list[float]] = {w: [] for w in config.workers}  # the 1-minute load as each sweep starts
    for repeat in range(config.repeats):
        for workers in config.workers:
            folder = Path(tempfile.mkdtemp(prefix="bench-ray-"))
            try:  # the command a user runs (through the `ebsd` entry point: eval does not import train)
                argv = ["tune", "bayes", "--backend", "ray", "--num-workers", str(workers), "--traces",
                        str(source), "--rule", "entropy-abs", "--budget", str(config.trials), "--scope",
                        "overall", "--prompts-per-category", str(len(recorded)), "--storage",
                        str(folder / "tune.db"), "--out", str(folder / "best.json"),
                        "--seed", str(repeat), "--env-max-draft-len", str(recorded.max_draft_len),
                        "--max-new-tokens", str(recorded.max_new_tokens)]
                loads[workers].append(machine_state()["load_1min"])
                t0 = time.perf_counter()
                if ebsd(argv) != 0:
                    raise RuntimeError(f"ebsd {' '.join(argv)} failed")
                times[workers].append(time.perf_counter() - t0)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            print(f"[bench-ray] repeat {repeat}: {workers} worker(s) {times[workers][-1]:.1f} s", flush=True)
    ray.shutdown()
    if source != config.traces:
        shutil.rmtree(source, ignore_errors=True)
    medians = {w: statistics.median(t) for w, t in times.items()}
    low, high = min(config.workers), max(config.workers)
    return {"command": "tune", "traces": config.traces.name, "replicate": config.replicate,
            "trace_prompts": len(recorded),
            "trace_tokens": sum(len(t.output) for t in recorded.traces), "trials": config.trials,
            "repeats": config.repeats, "seconds": {str(w): t for w, t in times.items()},
            "load_1min": {str(w): v for w, v in loads.items()}, "median_s": {str(w): m for w, m in medians.items()},
            "speedup": medians[low] / medians[high], "speedup_of": [low, high], "machine_before": before,
            "machine_after": machine_state()}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("record", "tune"):
        argv = ["--command", *argv]
    config = tyro.cli(BenchRayConfig, args=argv, description=__doc__)
    result = bench_record(config) if config.command == "record" else bench_tune(config)
    write_json_atomic(config.out, result, sort_keys=True)
    if config.command == "record":
        print(f"[bench-ray] {result['prompts']} prompts, {result['tokens']} tokens in {result['seconds']:.1f} s: "
              f"{result['seconds_per_prompt']:.2f} s per prompt (load {result['machine_before']['load_1min']:.2f})")
    else:
        print("[bench-ray] median sweep wall time: " + ", ".join(f"{w} worker(s) {m:.1f} s" for w, m in
                                                                  result["median_s"].items())
              + f"; speedup {result['speedup']:.2f}x (load {result['machine_before']['load_1min']:.2f} before, "
              f"{result['machine_after']['load_1min']:.2f} after, {result['machine_before']['cores']} cores)")
    print(f"[bench-ray] written to {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
