"""Building and loading the project's small AVX2 C kernels: one place for every C file the decoder compiles.

Three C files use it: ``ebsd_env/decoding/quantized/avx2.c`` (the int4 drafter's products),
``ebsd_env/decoding/kernels/panels_avx2.c`` (float32 products for a few rows, the ``avx2-panels`` kernel variant)
and ``ebsd_env/decoding/kernels/attention_avx2.c`` (the verifier's attention of a few queries). Each is compiled
once per machine with the system C compiler (``$CC``, else ``cc``, ``gcc`` or ``clang``) into
``ebsd_cache_dir()/native/``, under a name made of the source, the compiler's version and the flags, and loaded with
ctypes. The libraries split their work between threads with OpenMP and link ``libgomp.so.1``, the name of the GNU
OpenMP runtime torch's Linux wheels ship, so the loader hands them the copy torch already loaded and all share one
thread pool. They need an x86-64 CPU with AVX2 and FMA and a compiler; where either is missing, `load_native`
returns why, and the callers keep torch's kernels.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

from ...io import ebsd_cache_dir, save_atomic
from ...machine import cpu_flags

REQUIRED_CPU_FLAGS = ("avx2", "fma")
COMPILE_FLAGS = ("-O3", "-mavx2", "-mfma", "-fopenmp", "-shared", "-fPIC")


class _CompileFailed(Exception):
    """The C compiler refused a kernel's source (its first line naming an error)."""


def compiler() -> str | None:
    """The C compiler to build with: ``$CC`` if set (None if it is not found), else cc, gcc or clang."""
    if os.environ.get("CC"):
        return shutil.which(os.environ["CC"])
    return next((path for name in ("cc", "gcc", "clang") if (path := shutil.which(name))), None)


def library_path(source: Path, compiler_path: str) -> Path:
    """Where `source`'s library built by `compiler_path` is cached: a new source, compiler or flag set builds anew."""
    version = subprocess.run([compiler_path, "--version"], capture_output=True, text=True, timeout=30).stdout
    digest = hashlib.sha1(source.read_bytes() + version.encode() + " ".join(COMPILE_FLAGS).encode()).hexdigest()
    return ebsd_cache_dir() / "native" / f"{source.stem}-{digest[:16]}.so"


# What the kernels take: data pointers, sizes, strides and scalars; each returns an int.
POINTER, INT, INT64, FLOAT = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_float


@functools.cache
def load_native(source: Path, what: str, signatures: tuple[tuple[str, tuple], ...] = ()) -> ctypes.CDLL | str:
    """`source` compiled (once per machine, cached on disk) and loaded (once per process), or one line saying why
    it cannot be; `what` names the kernels in that line (e.g. "the native int kernels"). `signatures`: (function
    name, argument ctypes) of each function called, set on the library (each returns an int)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"{what} are x86-64 AVX2 code; this CPU is {platform.machine()}"
    missing = [flag for flag in REQUIRED_CPU_FLAGS if flag not in (cpu_flags() or set())]
    if missing:
        return f"{what} need the CPU features {', '.join(missing)}, which this CPU lacks"
    compiler_path = compiler()
    if compiler_path is None:
        return f"{what} need a C compiler (cc, gcc or clang, or $CC) to build once"
    target = library_path(source, compiler_path)
    if not target.exists():
        def build(scratch: str) -> None:  # into a temporary file beside the target, renamed when complete
            result = subprocess.run([compiler_path, *COMPILE_FLAGS, "-o", scratch, str(source)],
                                    capture_output=True, text=True, timeout=300)
            if result.returncode != 0:
                lines = result.stderr.strip().splitlines() or ["no output"]
                raise _CompileFailed(next((line for line in lines if "error" in line), lines[0]))

        try:
            save_atomic(target, build)  # processes loading the same pair at once never see half a file
        except _CompileFailed as error:
            return f"compiling {what} with {compiler_path} failed: {error}"
    try:
        library = ctypes.CDLL(str(target))
    except OSError as error:  # e.g. no OpenMP runtime to link at load time: torch's kernels stay
        return f"loading {what} ({target}) failed: {error}"
    for name, argtypes in signatures:
        function = getattr(library, name)
        function.argtypes, function.restype = list(argtypes), INT
    return library
