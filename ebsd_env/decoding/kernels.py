"""Linear-layer kernels chosen by measurement on this machine, and the process's CPU thread setting.

Kernel variants (`VARIANTS`) are ways to run a model's float32 ``nn.Linear`` layers:

- ``plain``: the stock modules (torch's default CPU matmul path); always available, and the fallback;
- ``onednn``: weights prepacked for oneDNN (`PackedLinear`). It made verifying several tokens cheaper in
  earlier measurements on the development machine (2-5 tokens cost 1.3-1.4x one token instead of 1.6-2x) and
  the verifier slower on a 2-core AVX-512 + AMX Xeon (15.7 tokens/s instead of 25.0).

Since which one wins depends on the CPU, the thread count and the shapes, `choose_kernels` times them on this
machine the first time a model is loaded (a decode-shaped pass through every linear layer of the model, at 1
token and at a few tokens, interleaved repeats, medians) and keeps the fastest, never one slower than ``plain``:
a variant must beat ``plain`` by `DEFAULT_MARGIN` to be chosen. The choice is cached in
``ebsd_cache_dir()/kernels.json`` under a key made of the CPU, the torch version, the thread count, the dtype and
the model's linear shapes, so later loads reuse it without timing. A new variant is one more `KernelVariant`
in `VARIANTS`: a predicate for the layers it converts, a converter and an availability check.

Threads (`configure_threads`): ``--threads`` (or ``load_pair(threads=...)``), else ``$EBSD_THREADS``, else torch's
default, which is the number of physical cores (or ``OMP_NUM_THREADS`` where that is set).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelLoadError
from ..io import ebsd_cache_dir, write_json_atomic

THREADS_ENV = "EBSD_THREADS"
# torch's thread count when this module was first imported: a different count later means someone set it.
_STARTUP_THREADS = torch.get_num_threads()

DEFAULT_MARGIN = 0.05  # a variant must be at least 5 % faster than plain: smaller gaps are within timing noise
DEFAULT_REPEATS = 7
DEFAULT_TOKENS = (1, 4)  # one drafted/decoded token, and a verification block of a few tokens
CACHE_VERSION = 1


# ---------------------------------------------------------------------------------------------- threads
def configure_threads(threads: int | None = None) -> int:
    """Apply the one thread setting of the project and return torch's thread count afterwards.

    Order: `threads` (a command's ``--threads``), else the environment variable ``EBSD_THREADS``, else torch's
    default, left as it is: the number of physical cores (``OMP_NUM_THREADS`` overrides it at start-up).
    """
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "").strip()
        if raw:
            try:
                threads = int(raw)
            except ValueError:
                raise ValueError(f"{THREADS_ENV}={raw!r} is not a whole number: set it to a thread count such "
                                 "as 1, or unset it for torch's default") from None
            if threads < 1:
                raise ValueError(f"{THREADS_ENV}={raw!r} must be >= 1: unset it for torch's default")
    elif threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}: leave it unset for {THREADS_ENV} or torch's "
                         "default (physical cores)")
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def threads_set_explicitly() -> bool:
    """Whether torch's thread count differs from the one at start-up (a caller or `configure_threads` set it)."""
    return torch.get_num_threads() != _STARTUP_THREADS


# ---------------------------------------------------------------------------------------------- machine state
def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else `platform`)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")) and ":" in line:
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _cpu_flags_digest() -> str:
    """A short hash of the CPU feature flags: VMs report generic model names ("Intel(R) Xeon(R) Processor")
    for CPUs with different vector units, and AMX or AVX-512 decide which kernel wins."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")) and ":" in line:
                flags = " ".join(sorted(line.split(":", 1)[1].split()))
                return hashlib.sha1(flags.encode()).hexdigest()[:8]
    return "noflags"


def cpu_cores() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_state() -> dict:
    """What a timing depends on: CPU model, cores, torch threads and the 1-minute load average."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not every OS has a load average
        load = float("nan")
    return {"cpu": cpu_model(), "cores": cpu_cores(), "threads": torch.get_num_threads(), "load_1min": load}


def _cpu_jiffies(cpus: set[int]) -> tuple[int, int] | None:
    """(busy clock ticks of the CPUs in `cpus`, this process's own CPU ticks, all threads), from /proc; None where
    there is no /proc/stat (not Linux)."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    busy = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
            busy += user + nice + system + irq + softirq + steal
    # After the command name: state is field 3, utime and stime are fields 14 and 15 of /proc/[pid]/stat.
    return busy, int(own[11]) + int(own[12])


def other_cpu_load(window_s: float = 0.5) -> float | None:
    """Cores' worth of CPU time used by OTHER processes on this process's CPUs over the next `window_s` seconds
    (busy ticks of those CPUs minus this process's own); None where /proc is missing. Why not the load average:
    it averages over a minute and counts this run's own threads, so on 2 cores another 2-thread job never
    stood out against the allowance for this run's threads."""
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not every OS has affinity masks
        cpus = set(range(os.cpu_count() or 1))
    before, t0 = _cpu_jiffies(cpus), time.perf_counter()
    if before is None:
        return None
    time.sleep(window_s)
    after, elapsed = _cpu_jiffies(cpus), time.perf_counter() - t0
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return max((after[0] - before[0]) - (after[1] - before[1]), 0) / (ticks * elapsed)


def warn_if_busy(own_threads: int | None = None, per_core: float = 0.5, file=None,
                 window_s: float = 0.5) -> str | None:
    """Print (to stderr) and return a warning when other processes load the CPUs this run will use: measured
    over `window_s` (`other_cpu_load`), they keep more than `per_core` of each core this run's threads leave
    free busy (at least half a core's worth on a machine the run fills). Where /proc is missing, the 1-minute
    load average stands in (minus the run's own threads). Timings on a busy machine are not comparable."""
    state = machine_state()
    own = state["threads"] if own_threads is None else own_threads
    limit = per_core * max(state["cores"] - own, 1)
    others = other_cpu_load(window_s)
    if others is None:
        others, what = state["load_1min"] - own, "1-minute load average beyond this run's threads"
    else:
        what = f"CPU used by other processes over {window_s:g} s"
    if not others > limit:
        return None
    message = (f"warning: the machine is busy ({what}: {others:.2f} cores of {state['cores']}, this run using "
               f"{own} threads; allowed {limit:.2f}): timings will be slow and noisy; rerun on a quiet machine")
    print(message, file=file or sys.stderr, flush=True)
    return message


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


# ---------------------------------------------------------------------------------------------- selection
Timer = Callable[[str, int, Callable[[], None]], float]
"""timer(variant name, tokens, run) -> seconds of one `run()`; injectable so tests can fake the clock."""


def wall_timer(variant: str, tokens: int, run: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


@dataclass
class KernelChoice:
    """The variant a model runs with, and why: ``measured`` (timings_ms holds the medians), ``cache``,
    ``requested`` (named by the caller), or ``no float32 linear layers`` (nothing to choose)."""

    variant: str
    source: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    key: str | None = None

    def as_dict(self) -> dict:
        return {"variant": self.variant, "source": self.source, "timings_ms": dict(self.timings_ms)}


def linear_fingerprint(model: nn.Module) -> str:
    """A short hash of the model's float32 linear shapes (in, out, bias) and their counts."""
    shapes = Counter((m.in_features, m.out_features, m.bias is not None) for _, _, m in float_linears(model))
    text = ";".join(f"{i}x{o}{'b' if b else ''}*{n}" for (i, o, b), n in sorted(shapes.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def kernel_cache_key(model: nn.Module, threads: int | None = None) -> str:
    """What a kernel choice depends on: CPU (model name and feature flags), torch version, threads, the linear
    layers' dtype and device type, and their shapes."""
    linears = float_linears(model)
    weight = linears[0][2].weight if linears else None
    dtype = str(weight.dtype).removeprefix("torch.") if weight is not None else "none"
    device = weight.device.type if weight is not None else "cpu"
    threads = torch.get_num_threads() if threads is None else threads
    return (f"{cpu_model()} [{_cpu_flags_digest()}] | torch {torch.__version__} | threads {threads} | {dtype} "
            f"| {device} | linears {linear_fingerprint(model)}")


def kernel_cache_file() -> Path:
    return ebsd_cache_dir() / "kernels.json"


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # missing or damaged: measure again, the write below repairs it
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]


def _write_cache_entry(path: Path, key: str, entry: dict) -> None:
    """Add one entry, re-reading the file first (another process may have added others); atomic, and readable
    by others (the umask's mode), as the converted models next to it."""
    entries = _read_cache(path)
    entries[key] = entry
    write_json_atomic(path, {"version": CACHE_VERSION, "entries": entries}, sort_keys=True)


def pick_variant(timings: dict[str, float], margin: float = DEFAULT_MARGIN) -> str:
    """The fastest variant, but ``plain`` unless the fastest beats it by more than `margin` (a fraction)."""
    best = min(timings, key=timings.get)
    if best != "plain" and "plain" in timings and not timings[best] < (1.0 - margin) * timings["plain"]:
        return "plain"
    return best


def measure_variants(model: nn.Module, variants: Sequence[str], timer: Timer | None = None,
                     repeats: int = DEFAULT_REPEATS, tokens: Sequence[int] = DEFAULT_TOKENS) -> dict[str, float]:
    """Median seconds of one decode-shaped pass through every float32 linear layer of `model` (in module order,
    so the weights stream from memory as in a real step), summed over `tokens` widths, per variant.

    Repeats are interleaved (each round runs every variant once per width, in a rotated order) so that a
    change in machine load hits all variants alike. The model itself is not changed.
    """
    timer = timer or wall_timer
    linears = [linear for _, _, linear in float_linears(model)]
    if not linears:
        raise ValueError("the model has no float32 nn.Linear layers to time")
    device = linears[0].weight.device
    generator = torch.Generator().manual_seed(0)
    inputs = {(width, t): torch.randn(1, t, width, generator=generator).to(device)
              for width in {m.in_features for m in linears} for t in tokens}
    modules = {name: [VARIANTS[name].convert(m) for m in linears] for name in variants}

    def runner(name: str, t: int) -> Callable[[], None]:
        layers = modules[name]

        def run() -> None:
            with torch.inference_mode():
                for layer, linear in zip(layers, linears, strict=True):
                    layer(inputs[(linear.in_features, t)])

        return run

    runs = {(name, t): runner(name, t) for name in variants for t in tokens}
    for run in runs.values():  # warm-up: first calls allocate and let oneDNN pick its kernels
        run()
    totals: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for r in range(repeats):
        rotated = order[r % len(order):] + order[: r % len(order)]
        round_total = dict.fromkeys(variants, 0.0)
        for t in tokens:
            for name in rotated:
                round_total[name] += timer(name, t, runs[(name, t)])
        for name in variants:
            totals[name].append(round_total[name])
    return {name: statistics.median(values) for name, values in totals.items()}


def choose_kernels(model: nn.Module, kernels: str = "auto", timer: Timer | None = None,
                   cache_file: Path | None = None, repeats: int = DEFAULT_REPEATS,
                   tokens: Sequence[int] = DEFAULT_TOKENS, margin: float = DEFAULT_MARGIN) -> KernelChoice:
    """Pick the linear-kernel variant for `model` (``auto``: by measurement, cached) without changing it.

    Raises ValueError for an unknown variant and for one this device cannot run.
    """
    if kernels not in KERNEL_CHOICES:
        raise ModelLoadError(f"unknown kernels {kernels!r}; valid: {', '.join(KERNEL_CHOICES)}")
    linears = float_linears(model)
    if not linears:  # quantized or low-precision models: no float32 linear layer for any variant to convert
        return KernelChoice("plain", "no float32 linear layers")
    device = linears[0][2].weight.device
    if kernels != "auto":
        if not VARIANTS[kernels].available(device):
            raise ModelLoadError(f"kernels={kernels!r} cannot run on {device.type!r} (it needs "
                                 f"{VARIANTS[kernels].description}): pass kernels='plain' or 'auto'")
        return KernelChoice(kernels, "requested")
    candidates = [name for name, variant in VARIANTS.items() if variant.available(device)]
    if candidates == ["plain"]:
        return KernelChoice("plain", "only variant available")
    key = kernel_cache_key(model)
    path = cache_file or kernel_cache_file()
    cached = _read_cache(path).get(key)
    if isinstance(cached, dict) and cached.get("variant") in candidates:
        return KernelChoice(cached["variant"], "cache", dict(cached.get("timings_ms", {})), key)
    seconds = measure_variants(model, candidates, timer, repeats, tokens)
    choice = KernelChoice(pick_variant(seconds, margin), "measured",
                          {name: round(1000 * s, 4) for name, s in seconds.items()}, key)
    with contextlib.suppress(OSError):  # a read-only cache only costs a new measurement next time
        _write_cache_entry(path, key, {"variant": choice.variant, "timings_ms": choice.timings_ms,
                                       "repeats": repeats, "tokens": list(tokens), "margin": margin,
                                       "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return choice


def select_kernels(model: nn.Module, kernels: str = "auto", **kwargs) -> KernelChoice:
    """`choose_kernels`, then convert `model`'s float32 linear layers to the chosen variant, in place."""
    choice = choose_kernels(model, kernels, **kwargs)
    apply_variant(model, choice.variant)
    return choice
