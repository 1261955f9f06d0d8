"""This machine as timings see it: the one CPU thread setting, the CPU's identity, and load from other processes.

Threads (`configure_threads`): ``--threads`` (or ``load_pair(threads=...)``), else ``$EBSD_THREADS``, else torch's
default, which is the number of physical cores (or ``OMP_NUM_THREADS`` where that is set). Kernel choices
(`ebsd_env.decoding.kernels`), cost models and fingerprints name the CPU through `cpu_model`; benchmarks and
calibrations warn through `warn_if_busy` when other processes share the CPUs, since their timings would not
be comparable.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import sys
import time
from pathlib import Path

import torch

THREADS_ENV = "EBSD_THREADS"
# torch's thread count when this module was first imported: a different count later means someone set it.
_STARTUP_THREADS = torch.get_num_threads()


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


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags (``avx2``, ``avx512f``, ...) from /proc/cpuinfo; None where it lists none."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")) and ":" in line:
                return set(line.split(":", 1)[1].split())
    return None


def cpu_flags_digest() -> str:
    """A short hash of the CPU feature flags: VMs report generic model names ("Intel(R) Xeon(R) Processor")
    for CPUs with different vector units, and AMX or AVX-512 decide which kernel wins."""
    flags = cpu_flags()
    if flags is None:
        return "noflags"
    return hashlib.sha1(" ".join(sorted(flags)).encode()).hexdigest()[:8]


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
