"""Linear-layer kernels chosen by measurement on this machine per width of the forward.

Kernel variants (`VARIANTS`) are ways to run a model's float32 ``nn.Linear`` layers:

- ``plain``: the stock modules (torch's default CPU matmul path); always available, and the fallback;
- ``onednn``: weights prepacked for oneDNN (`PackedLinear`). It made verifying several tokens cheaper in
  earlier measurements on the development machine (2-5 tokens cost 1.3-1.4x one token instead of 1.6-2x) and
  the verifier slower on a 2-core AVX-512 + AMX Xeon (15.7 tokens/s instead of 25.0).

Which one wins depends on the CPU, the thread count, the shapes and the number of rows (tokens) a forward
multiplies by each weight: one row when decoding, k + 1 when verifying k drafted tokens, the prompt when
prefilling. So the choice is made per bucket of rows (`ROW_BUCKETS`: 1, 2, 3-4, 5-8, 9-16, 17+):
`choose_kernels` times every variant on this machine the first time a model is loaded (a pass through every
linear layer of the model at both ends of each bucket, interleaved repeats, medians) and keeps, per bucket,
the fastest, never one slower than ``plain``: a variant must beat ``plain`` by `DEFAULT_MARGIN` to be chosen.
A model whose buckets all chose one variant is converted to it outright; otherwise each layer becomes a
`WidthDispatchLinear`, which keeps the plain weight and the converted copies and picks per call from the
input's row count, so the decoder's prefill, decoding and verification forwards each run their bucket's
winner. The choice is cached in ``ebsd_cache_dir()/kernels.json`` under a key made of the CPU, the torch
version, the thread count, the dtype and the model's linear shapes, so later loads reuse it without timing. A
new variant is one more `KernelVariant` in `VARIANTS`: a converter and an availability check.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError
from ..io import add_cache_entry, ebsd_cache_dir, read_cache_entries

# The thread setting and machine state moved to `ebsd_env.machine`; importing them from here keeps working.
from ..machine import (  # noqa: F401
    THREADS_ENV,
    configure_threads,
    cpu_cores,
    cpu_flags_digest,
    cpu_model,
    machine_state,
    other_cpu_load,
    threads_set_explicitly,
    warn_if_busy,
)

DEFAULT_MARGIN = 0.05  # a variant must be at least 5 % faster than plain: smaller gaps are within timing noise
DEFAULT_REPEATS = 5
CACHE_VERSION = 2  # 2: one variant per bucket of rows (1: one variant per model)


# ---------------------------------------------------------------------------------------------- variants
class PackedLinear(nn.Module):
    """A float32 `nn.Linear` whose weight is prepacked for oneDNN (`torch.utils.mkldnn.MkldnnLinear`'s kernel,
    without its deprecated TorchScript wrapper). Inference only."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.has_bias = linear.bias is not None  # oneDNN needs a bias: a missing one is packed as zeros
        bias = linear.bias if linear.bias is not None else torch.zeros(linear.out_features)
        self.register_buffer("weight", linear.weight.detach().to_mkldnn(), persistent=False)
        self.register_buffer("bias", bias.detach().float().to_mkldnn(), persistent=False)

    def dense_state(self) -> dict[str, torch.Tensor]:
        """The state the `nn.Linear` it replaces had (``weight``, and ``bias`` if it had one), as dense tensors:
        what a weight hash reads, so that it describes the weights and not their layout."""
        state = {"weight": self.weight.to_dense()}
        if self.has_bias:
            state["bias"] = self.bias.to_dense()
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch._C._nn.mkldnn_linear(x.to_mkldnn(), self.weight, self.bias).to_dense()


def is_float_linear(module: nn.Module) -> bool:
    """A stock float32 `nn.Linear` (what kernel variants convert; subclasses and quantized layers are left alone)."""
    return type(module) is nn.Linear and module.weight.dtype == torch.float32


def float_linears(model: nn.Module) -> list[tuple[nn.Module, str, nn.Linear]]:
    """(parent, attribute, layer) of every float32 `nn.Linear` of `model`, in module order."""
    return [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
            if is_float_linear(child)]


def onednn_available(device: str | torch.device) -> bool:
    return torch.device(device).type == "cpu" and torch.backends.mkldnn.is_available()


@dataclass(frozen=True)
class KernelVariant:
    """One way to run float32 linear layers: `convert` maps an `nn.Linear` to the module that replaces it."""

    name: str
    description: str
    convert: Callable[[nn.Linear], nn.Module]
    available: Callable[[torch.device], bool]


VARIANTS: dict[str, KernelVariant] = {
    "plain": KernelVariant("plain", "stock float32 nn.Linear", lambda linear: linear, lambda device: True),
    "onednn": KernelVariant("onednn", "float32 weights prepacked for oneDNN (PackedLinear)", PackedLinear,
                            onednn_available),
}
KERNEL_CHOICES = ("auto", *VARIANTS)


def kernels_from_alias(kernels: str | None, fast_kernels: bool | None) -> str:
    """`load_pair`'s `kernels`, or its deprecated `fast_kernels` flag (True: ``onednn``, False: ``plain``)."""
    if fast_kernels is not None:
        if kernels not in (None, "auto"):
            raise ModelLoadError(f"give either kernels={kernels!r} or the deprecated fast_kernels, not both")
        return "onednn" if fast_kernels else "plain"
    kernels = kernels or "auto"
    if kernels not in KERNEL_CHOICES:
        raise ModelLoadError(f"unknown kernels {kernels!r}; valid: {', '.join(KERNEL_CHOICES)}")
    return kernels


# Buckets of rows (tokens, over the batch) a forward multiplies by every weight: one-token decoding, the k + 1
# rows of a verification, a prefill. (label, fewest rows, most rows); the last bucket has no upper end and is
# timed at 17 and 32 rows. A bucket is timed at both ends, since a kernel's cost need not grow with the rows
# (plain float32 took longer for 3 rows than for 5 on the development CPU).
ROW_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-8", 5, 8), ("9-16", 9, 16), ("17+", 17, 32))
BUCKETS = tuple(label for label, _, _ in ROW_BUCKETS)
BUCKET_ROWS = {label: tuple(dict.fromkeys((low, high))) for label, low, high in ROW_BUCKETS}
TIMED_ROWS = tuple(sorted({rows for ends in BUCKET_ROWS.values() for rows in ends}))


def bucket_of(rows: int) -> str:
    """The label of the bucket a forward with `rows` rows falls in (0 rows: the first)."""
    for label, _, high in ROW_BUCKETS[:-1]:
        if rows <= high:
            return label
    return ROW_BUCKETS[-1][0]


def apply_variant(model: nn.Module, variant: str) -> nn.Module:
    """Replace every float32 `nn.Linear` of `model` by `variant`'s module, in place.

    Weights are read through the new modules afterwards, so derive drafters from a model before converting it.
    """
    convert = VARIANTS[variant].convert
    for parent, name, linear in float_linears(model):
        replacement = convert(linear)
        if replacement is not linear:
            setattr(parent, name, replacement)
    return model


def pack_linears(model: nn.Module) -> nn.Module:
    """Replace every float32 `nn.Linear` by a oneDNN-prepacked `PackedLinear`, in place (CPU only)."""
    return apply_variant(model, "onednn")


class WidthDispatchLinear(nn.Module):
    """A float32 linear layer that runs each call with the variant `by_bucket` names for its number of rows.

    It keeps the plain weight (the same tensor: tied weights stay tied) and one converted module per other
    variant it uses, so one model serves a prefill, one-token decoding and a verification of k + 1 tokens, each
    with its bucket's fastest kernel, at the memory cost of each converted copy. Inference only.
    """

    def __init__(self, linear: nn.Linear, by_bucket: dict[str, str]):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self.by_bucket = dict(by_bucket)
        # A plain dict, not a ModuleDict: the converted copies are a layout of the same weights, so they stay out
        # of the state dict (a weight hash then describes the weights, whatever kernels this machine picked).
        self.converted = {name: VARIANTS[name].convert(linear)
                          for name in sorted(set(by_bucket.values())) if name != "plain"}
        runners = {"plain": self._plain, **self.converted}
        # The runner of every row count up to the last bucket's first; wider calls take the last entry.
        self._by_rows = [runners[by_bucket[bucket_of(rows)]] for rows in range(ROW_BUCKETS[-1][1] + 1)]

    def _plain(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        table = self._by_rows
        return table[rows](x) if rows < len(table) else table[-1](x)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, by_bucket={self.by_bucket}"


def apply_choice(model: nn.Module, by_bucket: dict[str, str]) -> nn.Module:
    """Convert `model`'s float32 linear layers, in place, to run each bucket of rows with its variant: one
    variant everywhere converts them outright (`apply_variant`), several wrap them (`WidthDispatchLinear`)."""
    variants = set(by_bucket.values())
    if len(variants) == 1:
        return apply_variant(model, variants.pop())
    for parent, name, linear in float_linears(model):
        setattr(parent, name, WidthDispatchLinear(linear, by_bucket))
    return model


# ---------------------------------------------------------------------------------------------- selection
Timer = Callable[[str, int, Callable[[], None]], float]
"""timer(variant name, rows, run) -> seconds of one `run()`; injectable so tests can fake the clock."""


def wall_timer(variant: str, rows: int, run: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


@dataclass
class KernelChoice:
    """The variant a model runs with per bucket of rows (`by_bucket`, labels of `BUCKETS`), and why:
    ``measured`` (timings_ms holds the medians per bucket and variant), ``cache``, ``requested`` (named by the
    caller), ``only variant available`` or ``no float32 linear layers`` (nothing to choose)."""

    by_bucket: dict[str, str]
    source: str
    timings_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    key: str | None = None

    @property
    def variant(self) -> str:
        """The one variant of every bucket, else the buckets grouped by variant, e.g. ``1-2:plain,3+:onednn``."""
        names = [self.by_bucket[label] for label in BUCKETS]
        if len(set(names)) == 1:
            return names[0]
        groups, start = [], 0
        for index in range(1, len(names) + 1):
            if index == len(names) or names[index] != names[start]:
                low = ROW_BUCKETS[start][1]
                rows = f"{low}+" if index == len(names) else \
                    (str(low) if ROW_BUCKETS[index][1] - 1 == low else f"{low}-{ROW_BUCKETS[index][1] - 1}")
                groups.append(f"{rows}:{names[start]}")
                start = index
        return ",".join(groups)

    def as_dict(self) -> dict:
        return {"variant": self.variant, "by_bucket": dict(self.by_bucket), "source": self.source,
                "timings_ms": {bucket: dict(ms) for bucket, ms in self.timings_ms.items()}}


def everywhere(variant: str) -> dict[str, str]:
    """`variant` for every bucket of rows."""
    return dict.fromkeys(BUCKETS, variant)


def linear_fingerprint(model: nn.Module) -> str:
    """A short hash of the model's float32 linear shapes (in, out, bias) and their counts."""
    shapes = Counter((m.in_features, m.out_features, m.bias is not None) for _, _, m in float_linears(model))
    text = ";".join(f"{i}x{o}{'b' if b else ''}*{n}" for (i, o, b), n in sorted(shapes.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def kernel_cache_key(model: nn.Module, threads: int | None = None) -> str:
    """What a kernel choice depends on: CPU (model name and feature flags), torch version, threads, the linear
    layers' dtype and device type, and their shapes (the buckets of rows are inside each entry)."""
    linears = float_linears(model)
    weight = linears[0][2].weight if linears else None
    dtype = str(weight.dtype).removeprefix("torch.") if weight is not None else "none"
    device = weight.device.type if weight is not None else "cpu"
    threads = torch.get_num_threads() if threads is None else threads
    return (f"{cpu_model()} [{cpu_flags_digest()}] | torch {torch.__version__} | threads {threads} | {dtype} "
            f"| {device} | linears {linear_fingerprint(model)}")


def kernel_cache_file() -> Path:
    return ebsd_cache_dir() / "kernels.json"


def pick_variant(timings: dict[str, float], margin: float = DEFAULT_MARGIN) -> str:
    """The fastest variant, but ``plain`` unless the fastest beats it by more than `margin` (a fraction)."""
    best = min(timings, key=timings.get)
    if best != "plain" and "plain" in timings and not timings[best] < (1.0 - margin) * timings["plain"]:
        return "plain"
    return best


def measure_variants(model: nn.Module, variants: Sequence[str], timer: Timer | None = None,
                     repeats: int = DEFAULT_REPEATS, widths: Sequence[int] = TIMED_ROWS
                     ) -> dict[int, dict[str, float]]:
    """Median seconds of one pass through every float32 linear layer of `model` (in module order, so the
    weights stream from memory as in a real step), per number of rows in `widths` and variant.

    Repeats are interleaved (each round runs every variant once per width, in a rotated order) so that a
    change in machine load hits all variants alike. The model itself is not changed.
    """
    timer = timer or wall_timer
    linears = [linear for _, _, linear in float_linears(model)]
    if not linears:
        raise ValueError("the model has no float32 nn.Linear layers to time")
    device = linears[0].weight.device
    generator = torch.Generator().manual_seed(0)
    inputs = {(width, rows): torch.randn(1, rows, width, generator=generator).to(device)
              for width in {m.in_features for m in linears} for rows in widths}
    modules = {name: [VARIANTS[name].convert(m) for m in linears] for name in variants}

    def run(layers: list[nn.Module], rows: int) -> None:  # one pass, every layer at `rows` rows
        with torch.inference_mode():
            for layer, linear in zip(layers, linears, strict=True):
                layer(inputs[(linear.in_features, rows)])

    runs = {(name, rows): functools.partial(run, modules[name], rows) for name in variants for rows in widths}
    for run in runs.values():  # warm-up: first calls allocate and let oneDNN pick its kernels
        run()
    seconds: dict[int, dict[str, list[float]]] = {rows: {name: [] for name in variants} for rows in widths}
    order = list(variants)
    for r in range(repeats):
        rotated = order[r % len(order):] + order[: r % len(order)]
        for rows in widths:
            for name in rotated:
                seconds[rows][name].append(timer(name, rows, runs[(name, rows)]))
    return {rows: {name: statistics.median(values) for name, values in by_name.items()}
            for rows, by_name in seconds.items()}


def choose_kernels(model: nn.Module, kernels: str = "auto", timer: Timer | None = None,
                   cache_file: Path | None = None, repeats: int = DEFAULT_REPEATS,
                   margin: float = DEFAULT_MARGIN) -> KernelChoice:
    """Pick the linear-kernel variant of each bucket of rows for `model` (``auto``: by measurement at both ends
    of each bucket, summed; cached) without changing the model.

    Raises ModelLoadError for an unknown variant and for one this device cannot run.
    """
    if kernels not in KERNEL_CHOICES:
        raise ModelLoadError(f"unknown kernels {kernels!r}; valid: {', '.join(KERNEL_CHOICES)}")
    linears = float_linears(model)
    if not linears:  # quantized or low-precision models: no float32 linear layer for any variant to convert
        return KernelChoice(everywhere("plain"), "no float32 linear layers")
    device = linears[0][2].weight.device
    if kernels != "auto":
        if not VARIANTS[kernels].available(device):
            raise ModelLoadError(f"kernels={kernels!r} cannot run on {device.type!r} (it needs "
                                 f"{VARIANTS[kernels].description}): pass kernels='plain' or 'auto'")
        return KernelChoice(everywhere(kernels), "requested")
    candidates = [name for name, variant in VARIANTS.items() if variant.available(device)]
    if candidates == ["plain"]:
        return KernelChoice(everywhere("plain"), "only variant available")
    key = kernel_cache_key(model)
    path = cache_file or kernel_cache_file()
    cached = _cached_choice(path, key, candidates)
    if cached is not None:
        return cached
    return _measured_choice(model, candidates, timer, repeats, margin, path, key)


def _cached_choice(path: Path, key: str, candidates: list[str]) -> KernelChoice | None:
    """The choice cached under `key`, if it covers every bucket with variants this device can still run."""
    cached = read_cache_entries(path, CACHE_VERSION).get(key)
    if isinstance(cached, dict) and isinstance(cached.get("buckets"), dict) \
            and set(cached["buckets"]) == set(BUCKETS) and set(cached["buckets"].values()) <= set(candidates):
        return KernelChoice(dict(cached["buckets"]), "cache", dict(cached.get("timings_ms", {})), key)
    return None


def _measured_choice(model: nn.Module, candidates: list[str], timer: Timer | None, repeats: int, margin: float,
                     path: Path, key: str) -> KernelChoice:
    """Time `candidates` at both ends of each bucket, pick per bucket (summed over its ends), cache the choice."""
    seconds = measure_variants(model, candidates, timer, repeats, TIMED_ROWS)
    per_bucket = {label: {name: sum(seconds[rows][name] for rows in ends) for name in candidates}
                  for label, ends in BUCKET_ROWS.items()}
    by_bucket = {label: pick_variant(times, margin) for label, times in per_bucket.items()}
    timings_ms = {label: {name: round(1000 * s, 4) for name, s in times.items()} for label, times in per_bucket.items()}
    choice = KernelChoice(by_bucket, "measured", timings_ms, key)
    with contextlib.suppress(OSError):  # a read-only cache only costs a new measurement next time
        add_cache_entry(path, CACHE_VERSION, key, {
            "buckets": by_bucket, "timings_ms": timings_ms, "repeats": repeats, "margin": margin,
            "rows_timed": {label: list(ends) for label, ends in BUCKET_ROWS.items()},
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return choice


def select_kernels(model: nn.Module, kernels: str = "auto", **kwargs) -> KernelChoice:
    """`choose_kernels`, then convert `model`'s float32 linear layers to the chosen variants, in place."""
    choice = choose_kernels(model, kernels, **kwargs)
    apply_choice(model, choice.by_bucket)
    return choice
