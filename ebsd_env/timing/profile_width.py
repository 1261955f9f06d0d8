"""The verifier's forward over M new tokens, by width and by op: where verifying k + 1 tokens costs more than one.

    python -m ebsd_env.timing.profile_width [--context 200] [--widths 1 2 9] [--kernels plain onednn auto] [--threads 1]

1. **Cost curve.** For each kernel setting of `--kernels` (``auto`` is `load_pair` as shipped: the variant its
   bucket of rows measured fastest on this machine), the verifier's forward over M new tokens after a
   `--context`-token prefix in its KV cache, as the decoder runs it (``logits_to_keep=M``, the cache cropped back
   after each forward). Interleaved rounds (every setting and width once per round, rotated), median and best
   per cell, and each cell over its own setting's M = 1 and over plain's M = 1. The issue-26 check is the ``auto``
   row: M = 9 over M = 1.
2. **By op.** One setting (`--profile-kernels`), each module type and transformers' mask builder timed by hooks
   with the `--clock`, widths interleaved: embedding, masks, rotary tables, norms, linears of the attention and
   of the MLP, the attention itself (its module less its linears), the MLP's activation, the LM head; "other"
   is the forward's time less those (Python and module bookkeeping between them, the cache crop). "Outside aten
   ops" is the share of the forward not inside any aten op, by `torch.profiler` (run without the hooks). The
   hooks cost time themselves: the by-op table is for proportions, the cost curve for times.

Timings are only comparable on a quiet machine: the script warns when the CPU is busy (`warn_if_busy`).
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch
import tyro
from torch import nn

from ebsd_env.decoding.drafting import rollback_cache
from ebsd_env.decoding.kernels import (
    KERNEL_CHOICES,
    configure_threads,
    machine_state,
    warn_if_busy,
)
from ebsd_env.decoding.kernels.variants import CONVERTED_LINEARS
from ebsd_env.decoding.models import EMBEDDED_VERIFIER, load_pair
from ebsd_env.io import write_json_atomic

CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
CATEGORIES = ("embedding", "masks", "rotary", "norms", "linears (attention)", "attention", "linears (mlp)",
              "mlp activation", "lm head")


@dataclass
class ProfileWidthConfig:
    verifier: str = EMBEDDED_VERIFIER
    """Verifier: Hugging Face id, folder or .gguf file (default: the embedded SmolLM2-135M-Instruct)."""
    context: int = 200
    """Tokens already in the KV cache before each timed forward."""
    widths: list[int] = field(default_factory=lambda: [1, 2, 9])
    """M, the new tokens of each timed forward (a verification of M - 1 draft tokens)."""
    kernels: list[str] = field(default_factory=lambda: ["plain", "onednn", "auto"])
    """Kernel settings compared in the cost curve (auto: chosen per bucket of rows, as shipped)."""
    profile_kernels: str = "auto"
    """The setting profiled by op."""
    repeats: int = 15
    """Interleaved rounds of the cost curve."""
    profile_iters: int = 10
    """Forwards per width under the profiler."""
    threads: int = 1
    """torch CPU threads."""
    clock: str = "wall"
    """What the cost curve times: wall (time.perf_counter, as the decoder's clock) or cpu (this thread's CPU
    time, time.thread_time: less disturbed by other processes on a busy machine; one thread only)."""
    out: str | None = None
    """Also write the results as JSON here (atomically)."""


def check_config(config: ProfileWidthConfig) -> None:
    """Bad input in one line, before any model is loaded."""
    unknown = [k for k in [*config.kernels, config.profile_kernels] if k not in KERNEL_CHOICES]
    if unknown:
        raise ValueError(f"unknown kernels {unknown[0]!r}: pick from {', '.join(KERNEL_CHOICES)}")
    if not config.widths or min(config.widths) < 1:
        raise ValueError(f"--widths must be token counts >= 1, got {config.widths}")
    if config.clock not in CLOCKS:
        raise ValueError(f"--clock must be one of {', '.join(CLOCKS)}, got {config.clock!r}")
    if config.clock == "cpu" and config.threads != 1:
        raise ValueError("--clock cpu times the calling thread only: use it with --threads 1")
    if config.context < 1 or config.repeats < 1 or config.profile_iters < 1 or config.threads < 1:
        raise ValueError("--context, --repeats, --profile-iters and --threads must be >= 1")


def _tokens(vocab: int, count: int) -> torch.Tensor:
    return torch.randint(0, vocab, (1, count), generator=torch.Generator().manual_seed(0))


class WidthRunner:
    """One verifier with `context` tokens in its cache; `forward(m)` runs m more and crops them off again."""

    def __init__(self, verifier: nn.Module, context: int, widest: int):
        from ebsd_env.decoding.kv_cache import new_kv_cache

        self.verifier, self.context = verifier, context
        self.ids = _tokens(verifier.config.get_text_config().vocab_size, context + widest)
        self.cache = new_kv_cache(verifier.device)  # as the decoder's
        with torch.inference_mode():
            verifier(input_ids=self.ids[:, :context], cache=self.cache, use_cache=True, logits_to_keep=1)

    def forward(self, m: int) -> torch.Tensor:
        with torch.inference_mode():
            logits = self.verifier(input_ids=self.ids[:, self.context:self.context + m], cache=self.cache,
                                   use_cache=True, logits_to_keep=m).logits
        rollback_cache(self.cache, self.context)
        return logits


def cost_curve(runners: dict[str, WidthRunner], widths: list[int], repeats: int,
               clock=time.perf_counter) -> dict[str, dict[int, dict]]:
    """Median and best seconds of each (setting, width), interleaved and rotated round by round."""
    cells = [(name, m) for name in runners for m in widths]
    for name, m in cells:  # warm-up: first calls allocate and let oneDNN pick its kernels
        runners[name].forward(m)
    seconds: dict[tuple[str, int], list[float]] = {cell: [] for cell in cells}
    for r in range(repeats):
        for name, m in cells[r % len(cells):] + cells[:r % len(cells)]:
            t0 = clock()
            runners[name].forward(m)
            seconds[(name, m)].append(clock() - t0)
    return {name: {m: {"median_s": statistics.median(seconds[(name, m)]), "best_s": min(seconds[(name, m)])}
                   for m in widths} for name in runners}


@contextlib.contextmanager
def _timed(verifier: nn.Module, clock):
    """Yield a dict that hooks on each module type (and a wrapper of transformers' mask builder) fill with the
    `clock` seconds spent in it, by label (attention and MLP modules as "attention+" and "mlp+", their linears
    included)."""
    from transformers.models.llama import modeling_llama

    head = verifier.get_output_embeddings()
    linear_types = (nn.Linear, *CONVERTED_LINEARS)
    labels: dict[nn.Module, str] = {head: "lm head", verifier.get_input_embeddings(): "embedding"}
    for name, module in verifier.named_modules():
        kind = type(module).__name__
        if ".converted." in name or module is head:  # the kernels inside a WidthDispatchLinear: counted there
            continue
        if isinstance(module, linear_types):
            labels[module] = "linears (attention)" if ".self_attn." in name else "linears (mlp)"
        elif kind.endswith("RMSNorm"):
            labels[module] = "norms"
        elif kind.endswith("RotaryEmbedding"):
            labels[module] = "rotary"
        elif kind.endswith("Attention"):
            labels[module] = "attention+"
        elif kind.endswith("MLP"):
            labels[module] = "mlp+"
    seconds: dict[str, float] = {}
    started: list[float] = []
    handles = []
    for module, label in labels.items():
        def enter(*_):
            started.append(clock())

        def leave(*_, label=label):
            seconds[label] = seconds.get(label, 0.0) + clock() - started.pop()

        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    builder = modeling_llama.create_causal_mask

    def masks(*args, **kwargs):
        t0 = clock()
        try:
            return builder(*args, **kwargs)
        finally:
            seconds["masks"] = seconds.get("masks", 0.0) + clock() - t0

    modeling_llama.create_causal_mask = masks
    try:
        yield seconds
    finally:
        modeling_llama.create_causal_mask = builder
        for handle in handles:
            handle.remove()


def _aten_share(runner: WidthRunner, m: int, iters: int) -> float:
    """The share of the forward's time inside torch's ops (``aten::``, and ``mkl::`` for the MKL-packed kernels),
    by `torch.profiler` (no hooks installed)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(iters):
            with torch.autograd.profiler.record_function("forward"):
                runner.forward(m)
    events = prof.key_averages()
    forward = next(e.cpu_time_total for e in events if e.key == "forward")
    return sum(e.self_cpu_time_total for e in events if e.key.startswith(("aten::", "mkl::"))) / forward


def profile_by_op(runner: WidthRunner, widths: list[int], iters: int,
                  clock=time.perf_counter) -> dict[int, dict[str, float]]:
    """Milliseconds per forward of each category (`CATEGORIES`, "other", "forward") per width, timed by hooks
    with `clock` in interleaved rounds (every width once per round, rotated), and the share of the forward
    outside aten ops ("outside aten ops", by torch.profiler)."""
    totals: dict[int, dict[str, float]] = {m: {} for m in widths}
    forward_s = dict.fromkeys(widths, 0.0)
    with _timed(runner.verifier, clock) as seconds:
        for m in widths:  # warm-up
            runner.forward(m)
        for r in range(iters):
            for m in widths[r % len(widths):] + widths[:r % len(widths)]:
                seconds.clear()
                t0 = clock()
                runner.forward(m)
                forward_s[m] += clock() - t0
                for label, value in seconds.items():
                    totals[m][label] = totals[m].get(label, 0.0) + value
    out = {}
    for m in widths:
        row = {label: 1000 * totals[m].get(label, 0.0) / iters for label in (*CATEGORIES, "attention+", "mlp+")}
        row["attention"] = row.pop("attention+") - row["linears (attention)"]
        row["mlp activation"] = row.pop("mlp+") - row["linears (mlp)"]
        row["forward"] = 1000 * forward_s[m] / iters
        row["other"] = row["forward"] - sum(row[label] for label in CATEGORIES)
        row["outside aten ops"] = 1.0 - _aten_share(runner, m, iters)
        out[m] = row
    return out


def run(config: ProfileWidthConfig) -> dict:
    check_config(config)
    configure_threads(config.threads)
    busy = warn_if_busy()
    settings = list(dict.fromkeys([*config.kernels, config.profile_kernels]))
    pairs = {name: load_pair("self", config.verifier, kernels=name) for name in settings}
    runners = {name: WidthRunner(pair.verifier, config.context, max(config.widths)) for name, pair in pairs.items()}
    identical = {name: {m: torch.equal(runners[name].forward(m).argmax(-1), runners[settings[0]].forward(m).argmax(-1))
                        for m in config.widths} for name in settings}
    curve = cost_curve({name: runners[name] for name in config.kernels}, config.widths, config.repeats,
                       CLOCKS[config.clock])
    by_op = profile_by_op(runners[config.profile_kernels], config.widths, config.profile_iters,
                          CLOCKS[config.clock])
    return {"verifier": config.verifier, "context": config.context, "widths": config.widths,
            "threads": torch.get_num_threads(), "kernels": {name: pairs[name].metadata["kernels"]["verifier"]
                                                           for name in settings},
            "clock": config.clock, "curve": curve, "by_op": by_op, "profile_kernels": config.profile_kernels,
            "same_argmax": identical, "machine": machine_state(), "busy_warning": busy}


def print_report(report: dict) -> None:
    widths = report["widths"]
    print(f"\nverifier {report['verifier']}, {report['context']}-token context, {report['threads']} threads; "
          f"{report['machine']['cpu']}, 1-min load {report['machine']['load_1min']:.2f}")
    if report["busy_warning"]:
        print(report["busy_warning"])
    plain_one = report["curve"].get("plain", {}).get(widths[0], {}).get("median_s")
    print(f"\ncost curve ({report['clock']} clock): median ms (x its M={widths[0]}; x plain M={widths[0]}), best ms")
    print(f"{'kernels':<34}" + "".join(f"{'M=' + str(m):>30}" for m in widths))
    for name, cells in report["curve"].items():
        one = cells[widths[0]]["median_s"]
        text = "".join(f"{1000 * c['median_s']:>9.1f} ({c['median_s'] / one:.2f}; "
                       f"{c['median_s'] / plain_one if plain_one else float('nan'):.2f}) {1000 * c['best_s']:>6.1f}"
                       .rjust(30) for c in cells.values())
        print(f"{name + ' = ' + report['kernels'][name]:<34}{text}")
    print(f"\nby op, {report['profile_kernels']} = {report['kernels'][report['profile_kernels']]}, ms per forward "
          f"({report['clock']} clock, timed by module hooks, which add a little to every row)")
    print(f"{'':<22}" + "".join(f"{'M=' + str(m):>10}" for m in widths)
          + "".join(f"{'x M=' + str(widths[0]) + ' @' + str(m):>12}" for m in widths[1:]))
    by_op = report["by_op"]
    for label in [*CATEGORIES, "other", "forward"]:
        row = [by_op[m][label] for m in widths]
        ratios = "".join(f"{r / row[0]:>12.2f}" if row[0] > 0.005 else f"{'-':>12}" for r in row[1:])
        print(f"{label:<22}" + "".join(f"{v:>10.2f}" for v in row) + ratios)
    print(f"{'outside aten ops':<22}" + "".join(f"{100 * by_op[m]['outside aten ops']:>9.0f}%" for m in widths)
          + "   (share of the forward, by torch.profiler: Python and module bookkeeping)")
    differ = [f"{name} M={m}" for name, cells in report["same_argmax"].items() for m, same in cells.items() if not same]
    print("\nargmax at every position equal across settings" if not differ else f"\nargmax differs: {differ}")


def main(argv: list[str] | None = None) -> int:
    config = tyro.cli(ProfileWidthConfig, args=argv, prog="python -m ebsd_env.timing.profile_width",
                      description=__doc__)
    try:
        check_config(config)
    except ValueError as error:
        print(f"profile_width: error: {error}", file=sys.stderr)
        return 2
    report = run(config)
    print_report(report)
    if config.out:
        write_json_atomic(config.out, report)
        print(f"[profile_width] wrote {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
