"""Linear-layer kernels chosen by measurement on this machine per width of the forward.

The variants (`VARIANTS`: ``plain``, ``onednn``, ``transposed``, ``weight-left``, ``mkl-packed-4/8/16``,
``avx2-panels``) are ways to run a model's float32 ``nn.Linear`` layers, described in
`ebsd_env.decoding.kernels.variants`; ``avx2-panels`` is the project's own C code (`ebsd_env.decoding.kernels.panels`),
built by `ebsd_env.decoding.kernels.native`. ``onednn`` made
verifying several tokens cheaper on an earlier development machine (2-5 tokens cost 1.3-1.4x one token instead of
1.6-2x) and the verifier slower on a 2-core AVX-512 + AMX Xeon (15.7 tokens/s instead of 25.0); ``transposed`` and
``weight-left`` won the one- and two-row and the three-to-four-row forwards on a 2-core AVX2 AMD EPYC; MKL's
packed weights made 4, 8 and 16 rows 9-27 % cheaper than any other variant on the Xeon (by the host's load);
``auto`` times them only with ``EBSD_MKL_PACKS=1`` (`MKL_PACKS_ENV`: their address-space cost). On that EPYC
``avx2-panels`` then made 2-6 rows cost 1.02-1.27x one row, where torch's layouts cost 1.6-3x.

Which one wins depends on the CPU, the thread count, the shapes and the number of rows (tokens) a forward
multiplies by each weight: one row when decoding, k + 1 when verifying k drafted tokens, the prompt when
prefilling. So the choice is made per bucket of rows (`ROW_BUCKETS`: 1, 2, 3-4, 5-8, 9-16, 17+):
`choose_kernels` times every variant on this machine the first time a model is loaded (a pass through every
linear layer of the model at every row count up to 17, and at 32; interleaved repeats, medians). Within a
bucket a row count may be padded with zero rows to a larger one of the same bucket that measured cheaper (an odd
count often costs more than the next even one); each variant's bucket cost is the sum over the bucket's row
counts of that padded cost, and the bucket keeps the cheapest variant, never one slower than ``plain``: a
variant, and a padding, must save `DEFAULT_MARGIN` to be chosen. A model whose buckets all chose one variant and
no padding is converted to it outright; otherwise each layer becomes a `WidthDispatchLinear`, which keeps the
plain weight and the converted copies and picks per call from the input's row count, so the decoder's prefill,
decoding and verification forwards each run their bucket's winner. The choice is cached in
``ebsd_cache_dir()/kernels.json`` under a key made of the CPU, the torch version, the thread count, the dtype and
the model's linear shapes, so later loads reuse it without timing. A new variant is one more `KernelVariant` in
`VARIANTS`: a converter and an availability check."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ...errors import ModelLoadError
from ...io import add_cache_entry, ebsd_cache_dir, read_cache_entries

# The thread setting and machine state moved to `ebsd_env.machine`; importing them from here keeps working.
from ...machine import (  # noqa: F401
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

# The variants and the per-width layer live in `kernels.variants`; importing them from here keeps working.
from .variants import (  # noqa: F401
    BUCKET_ROWS,
    BUCKETS,
    KERNEL_CHOICES,
    LAST_BUCKET,
    PADDED_UP_TO,
    ROW_BUCKETS,
    TIMED_ROWS,
    VARIANTS,
    KernelVariant,
    MklPackedLinear,
    PackedLinear,
    TransposedLinear,
    WeightLeftLinear,
    WidthDispatchLinear,
    apply_choice,
    apply_variant,
    bucket_of,
    float_linears,
    is_float_linear,
    mkl_packing_available,
    onednn_available,
    pack_linears,
)

DEFAULT_MARGIN = 0.05  # a variant must be at least 5 % faster than plain: smaller gaps are within timing noise
DEFAULT_REPEATS = 5
# 5: avx2-panels (4: MKL-packed variants; 3: every row count timed, padding; 2: one variant per bucket, no
# padding; 1: one per model)
CACHE_VERSION = 5
SHARED_WEIGHT_VARIANTS = frozenset({"plain", "weight-left"})  # the rest hold a layout of their own: a copy each
# The MKL packs are timed by ``auto`` only where this variable is "1". Why opt-in: MKL reserves 2-20x a weight's
# size of address space per pack (the touched memory is ~1x), ~8 GB for the embedded verifier's three packs, and a
# process that holds a few such verifiers can no longer fork on a machine without swap (ENOMEM on Linux's default
# overcommit heuristic: the test suite's Ray workers failed to start with 24 GB and several cached pairs).
MKL_PACKS_ENV = "EBSD_MKL_PACKS"


def is_mkl_pack(name: str) -> bool:
    return name.startswith("mkl-packed-")


def mkl_packs_enabled() -> bool:
    """Whether ``auto`` times the MKL-packed variants (`MKL_PACKS_ENV` set to "1"; unset, empty or "0": not).
    Raises ModelLoadError for any other value, before anything is timed."""
    value = os.environ.get(MKL_PACKS_ENV, "")
    if value not in ("", "0", "1"):
        raise ModelLoadError(f"{MKL_PACKS_ENV}={value!r}: set it to 1 (time the MKL-packed kernels) or 0 / unset")
    return value == "1"


def auto_candidates(device: torch.device) -> list[str]:
    """The variants ``auto`` times on `device`: every available one, the MKL packs only when enabled."""
    packs = mkl_packs_enabled()
    return [name for name, variant in VARIANTS.items()
            if variant.available(device) and (packs or not is_mkl_pack(name))]


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


# ---------------------------------------------------------------------------------------------- selection
Timer = Callable[[str, int, Callable[[], None]], float]
"""timer(variant name, rows, run) -> seconds of one `run()`; injectable so tests can fake the clock."""


def wall_timer(variant: str, rows: int, run: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


@dataclass
class KernelChoice:
    """The variant a model runs with per bucket of rows (`by_bucket`, labels of `BUCKETS`), the row counts padded
    to a cheaper one (`pad_rows`), and why: ``measured`` (`timings_ms`: per bucket and variant, the summed cost
    of the bucket's row counts, each at its cheapest padding; `rows_ms`: the median per row count and variant),
    ``cache``, ``requested`` (named by the caller), ``only variant available`` or ``no float32 linear layers``
    (nothing to choose)."""

    by_bucket: dict[str, str]
    source: str
    timings_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    key: str | None = None
    pad_rows: dict[int, int] = field(default_factory=dict)
    rows_ms: dict[int, dict[str, float]] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        """The one variant of every bucket, else the buckets grouped by variant, e.g. ``1-2:plain,3+:onednn``;
        padded row counts follow, e.g. ``plain,pad:3>4,7>8``."""
        padding = ",pad:" + ",".join(f"{rows}>{to}" for rows, to in sorted(self.pad_rows.items()))
        return self._variants() + (padding if self.pad_rows else "")

    def _variants(self) -> str:
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
                "pad_rows": {str(rows): to for rows, to in sorted(self.pad_rows.items())},
                "timings_ms": {bucket: dict(ms) for bucket, ms in self.timings_ms.items()},
                "rows_ms": {str(rows): dict(ms) for rows, ms in self.rows_ms.items()}}


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
            f"| {device} | linears {linear_fingerprint(model)}" + (" | mkl packs" if mkl_packs_enabled() else ""))


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
    """Pick the linear-kernel variant of each bucket of rows, and the row counts to pad, for `model` (``auto``:
    by measurement at every row count of each bucket, `choose_per_bucket`; cached) without changing the model.

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
    candidates = affordable(auto_candidates(device),
                            sum(linear.weight.numel() * linear.weight.element_size() for _, _, linear in linears))
    if candidates == ["plain"]:
        return KernelChoice(everywhere("plain"), "only variant available")
    key = kernel_cache_key(model)
    path = cache_file or kernel_cache_file()
    cached = _cached_choice(path, key, candidates)
    if cached is not None:
        return cached
    return _measured_choice(model, candidates, timer, repeats, margin, path, key)


def available_memory_bytes() -> int | None:
    """Memory the system can still hand out (``MemAvailable``), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def affordable(candidates: list[str], weight_bytes: int, available: int | None = None) -> list[str]:
    """`candidates` less the MKL packs when timing every variant at once (one copy of the float32 weights per
    variant with its own layout) would take more than half the memory available: a big verifier keeps the
    variants that need fewer copies. ``available`` None reads it (`available_memory_bytes`); unknown keeps all."""
    available = available_memory_bytes() if available is None else available
    copies = sum(name not in SHARED_WEIGHT_VARIANTS for name in candidates)
    if available is None or copies * weight_bytes <= available // 2:
        return candidates
    kept = [name for name in candidates if not is_mkl_pack(name)]
    print(f"[ebsd] not timing MKL-packed kernels: {copies} copies of {weight_bytes / 1e9:.1f} GB of float32 "
          f"weights exceed half the {available / 1e9:.1f} GB available", file=sys.stderr, flush=True)
    return kept


def _cached_choice(path: Path, key: str, candidates: list[str]) -> KernelChoice | None:
    """The choice cached under `key`, if it covers every bucket with variants this device can still run."""
    cached = read_cache_entries(path, CACHE_VERSION).get(key)
    if not (isinstance(cached, dict) and isinstance(cached.get("buckets"), dict)
            and set(cached["buckets"]) == set(BUCKETS) and set(cached["buckets"].values()) <= set(candidates)):
        return None
    try:
        pad_rows = {int(rows): int(to) for rows, to in cached.get("pad_rows", {}).items()}
        rows_ms = {int(rows): dict(ms) for rows, ms in cached.get("rows_ms", {}).items()}
    except (TypeError, ValueError, AttributeError):
        return None  # a damaged entry: measured again
    return KernelChoice(dict(cached["buckets"]), "cache", dict(cached.get("timings_ms", {})), key, pad_rows, rows_ms)


def padded_costs(seconds: dict[int, float], bucket: str) -> dict[int, tuple[float, int]]:
    """Per row count of `bucket`: (the cheapest time of it or of a larger row count of the bucket, that count),
    from `seconds` per row count of one variant. The last bucket, timed at two row counts only, is not padded."""
    timed = BUCKET_ROWS[bucket]
    if bucket == LAST_BUCKET:
        return {rows: (seconds[rows], rows) for rows in timed}
    costs = {}
    for rows in timed:
        to = min((r for r in timed if r >= rows), key=lambda r: (seconds[r], r))
        costs[rows] = (seconds[to], to)
    return costs


def choose_per_bucket(seconds: dict[int, dict[str, float]], candidates: Sequence[str], margin: float = DEFAULT_MARGIN
                      ) -> tuple[dict[str, str], dict[int, int], dict[str, dict[str, float]]]:
    """From medians per row count and variant (`measure_variants`): the variant of each bucket (cheapest summed
    padded cost, ``plain`` unless beaten by `margin`: `pick_variant`), the row counts padded (only where the
    bucket's variant saves `margin` by it) and the summed costs per bucket and variant."""
    by_bucket, pad_rows, sums = {}, {}, {}
    for bucket in BUCKETS:
        costs = {name: padded_costs({rows: seconds[rows][name] for rows in BUCKET_ROWS[bucket]}, bucket)
                 for name in candidates}
        sums[bucket] = {name: sum(cost for cost, _ in costs[name].values()) for name in candidates}
        by_bucket[bucket] = variant = pick_variant(sums[bucket], margin)
        for rows, (cost, to) in costs[variant].items():
            if to != rows and cost < (1.0 - margin) * seconds[rows][variant]:
                pad_rows[rows] = to
    return by_bucket, pad_rows, sums


def _measured_choice(model: nn.Module, candidates: list[str], timer: Timer | None, repeats: int, margin: float,
                     path: Path, key: str) -> KernelChoice:
    """Time `candidates` at every timed row count, pick per bucket (`choose_per_bucket`), cache the choice."""
    if timer is None:  # a real measurement takes a while on a big model: say what is happening, once
        print(f"[ebsd] timing {len(candidates)} linear-kernel variants at {len(TIMED_ROWS)} widths on this CPU, "
              f"once per model shape and thread count (cached in {path})", file=sys.stderr, flush=True)
    seconds = measure_variants(model, candidates, timer, repeats, TIMED_ROWS)
    by_bucket, pad_rows, sums = choose_per_bucket(seconds, candidates, margin)
    timings_ms = {label: {name: round(1000 * s, 4) for name, s in times.items()} for label, times in sums.items()}
    rows_ms = {rows: {name: round(1000 * s, 4) for name, s in times.items()} for rows, times in seconds.items()}
    choice = KernelChoice(by_bucket, "measured", timings_ms, key, pad_rows, rows_ms)
    with contextlib.suppress(OSError):  # a read-only cache only costs a new measurement next time
        add_cache_entry(path, CACHE_VERSION, key, {
            "buckets": by_bucket, "pad_rows": {str(rows): to for rows, to in sorted(pad_rows.items())},
            "timings_ms": timings_ms, "rows_ms": {str(rows): ms for rows, ms in rows_ms.items()},
            "repeats": repeats, "margin": margin,
            "rows_timed": {label: list(rows) for label, rows in BUCKET_ROWS.items()},
            "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return choice


def select_kernels(model: nn.Module, kernels: str = "auto", **kwargs) -> KernelChoice:
    """`choose_kernels`, then convert `model`'s float32 linear layers to the chosen variants, in place."""
    choice = choose_kernels(model, kernels, **kwargs)
    apply_choice(model, choice.by_bucket, choice.pad_rows)
    return choice
