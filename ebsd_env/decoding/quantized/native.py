"""The int4 drafter's matrix products in plain AVX2 C, for CPUs where torch's own int kernels are slow.

torch's CPU kernels for weight-only int4 and int8 products (``_weight_int4pack_mm_for_cpu``,
``_weight_int8pack_mm``) need bfloat16 activations. On a CPU with AVX-512 BF16 they are fast; on an AVX2 CPU
without it they run at a fraction of a core's speed: on a 2-core AVX2 AMD EPYC (Zen 3) the int4 copy of the
embedded verifier took 29 ms a step beside a 48 ms float32 verification (docs/benchmarks.md), its int8 output
head alone about 6-7 ms. ``avx2.c`` does the same products with the same inputs (bfloat16
activations, the same bfloat16-rounded scales, int4 values and int8 weights) in float32 and rounds the result
to bfloat16 once, as torch's kernels do; only the order of the float32 additions differs, so an output element
occasionally differs from torch's by one bfloat16 step (tests/test_native_quantized.py measures how often).
The int4 values reach float32 by broadcasting one 32-bit word of eight nibbles and shifting each lane by its own
count (``vpsrlvd``), which on AVX2 is cheaper than widening bytes through shuffles.

The C file is compiled once per machine with the system C compiler (``$CC``, else ``cc``, ``gcc`` or
``clang``) into ``ebsd_cache_dir()/native/`` and loaded with ctypes; each call passes the tensors' data
pointers and torch's thread count. The output columns are split between threads with OpenMP: the library links
``libgomp.so.1``, the name of the GNU OpenMP runtime torch's Linux wheels ship, so the loader hands it the copy
torch already loaded and both share one thread pool. It needs an x86-64 CPU with AVX2 and FMA and a compiler;
where either is missing, `native_problem` says which and the drafter keeps torch's kernels. Whether it is used
is measured, not assumed (`choose_runner_matmul` in ``ebsd_env.decoding.quantized.runner``): on a CPU where
torch's kernels are faster they stay.
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

import torch

from ...errors import ModelLoadError
from ...io import ebsd_cache_dir, save_atomic
from ...machine import cpu_flags

SOURCE = Path(__file__).with_name("avx2.c")
REQUIRED_CPU_FLAGS = ("avx2", "fma")
COMPILE_FLAGS = ("-O3", "-mavx2", "-mfma", "-fopenmp", "-shared", "-fPIC")
GROUP_SIZE = 32  # the C kernel's int4 group: 4 words of 8 nibbles


class _CompileFailed(Exception):
    """The C compiler refused the kernels' source (its first line of errors)."""


def _compiler() -> str | None:
    if os.environ.get("CC"):
        return shutil.which(os.environ["CC"])
    return next((path for name in ("cc", "gcc", "clang") if (path := shutil.which(name))), None)


def _library_path(compiler: str) -> Path:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    digest = hashlib.sha1(SOURCE.read_bytes() + version.encode() + " ".join(COMPILE_FLAGS).encode()).hexdigest()
    return ebsd_cache_dir() / "native" / f"quantized_avx2-{digest[:16]}.so"


@functools.cache
def _load() -> ctypes.CDLL | str:
    """The compiled library, or why there is none (compiled at most once per process, cached on disk)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return f"the native int kernels are x86-64 AVX2 code; this CPU is {platform.machine()}"
    missing = [flag for flag in REQUIRED_CPU_FLAGS if flag not in (cpu_flags() or set())]
    if missing:
        return f"the native int kernels need the CPU features {', '.join(missing)}, which this CPU lacks"
    compiler = _compiler()
    if compiler is None:
        return "the native int kernels need a C compiler (cc, gcc or clang, or $CC) to build once"
    target = _library_path(compiler)
    if not target.exists():
        def build(scratch: str) -> None:  # into a temporary file beside the target, renamed when complete
            result = subprocess.run([compiler, *COMPILE_FLAGS, "-o", scratch, str(SOURCE)],
                                    capture_output=True, text=True, timeout=300)
            if result.returncode != 0:
                raise _CompileFailed((result.stderr.strip().splitlines() or ["no output"])[0])

        try:
            save_atomic(target, build)  # processes loading the same pair at once never see half a file
        except _CompileFailed as error:
            return f"compiling the native int kernels with {compiler} failed: {error}"
    try:
        library = ctypes.CDLL(str(target))
    except OSError as error:  # e.g. no OpenMP runtime to link at load time: torch's kernels stay
        return f"loading the native int kernels ({target}) failed: {error}"
    pointer, integer = ctypes.c_void_p, ctypes.c_int
    library.int4_matmul.argtypes = [pointer, integer, integer, integer, pointer, pointer, pointer, pointer, integer]
    library.int8_matmul.argtypes = [pointer, integer, integer, integer, pointer, pointer, pointer, integer]
    library.int4_matmul.restype = library.int8_matmul.restype = integer
    return library


def native_problem() -> str | None:
    """Why the native kernels cannot run here (None if they can); builds them on first use."""
    library = _load()
    return library if isinstance(library, str) else None


def _library() -> ctypes.CDLL:
    library = _load()
    if isinstance(library, str):
        raise ModelLoadError(f"{library}: use matmul='torch'")
    return library


def pack_int4_words(q: torch.Tensor) -> torch.Tensor:
    """[N, K] integers 0..15 as [N, K / 8] 32-bit words, word t holding q[:, 8t + j] in bits 4j..4j+3 (stored
    as int32: the bit pattern is what the kernel reads)."""
    n, k = q.shape
    shifted = q.to(torch.int64).reshape(n, k // 8, 8) << (4 * torch.arange(8, dtype=torch.int64))
    words = shifted.sum(-1)
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32).contiguous()


class _NativeProduct:
    """The call both products share: check the input, give an output, call the C function with the weights'
    pointers (taken once: the tensors are kept by the object). Each Python step costs microseconds beside a
    product of tens of microseconds, so little is done per call."""

    def __init__(self, function, n: int, k: int, weights: tuple[torch.Tensor, ...], reuse_output: bool):
        self.function, self.n, self.k, self.weights = function, n, k, weights
        self.pointers = tuple(weight.data_ptr() for weight in weights)
        # With `reuse_output` each call returns the same tensor per row count, overwritten by the next call: for a
        # caller that consumes the output before calling again (the runner's body layers), not for one that keeps
        # it (the logits of the head). It saves an allocation per call.
        self.outputs: dict[int, torch.Tensor] | None = {} if reuse_output else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # A wrong dtype, shape or layout would make the C code read past the tensor: refuse or fix it here.
        if x.dtype is not torch.bfloat16 or x.dim() != 2 or x.shape[1] != self.k or not x.is_cpu:
            raise ValueError(f"the native int kernels take a 2-D bfloat16 CPU input of width {self.k}, "
                             f"got {x.dtype} {tuple(x.shape)} on {x.device}")
        if not x.is_contiguous():
            x = x.contiguous()
        rows = x.shape[0]
        if self.outputs is None:
            out = torch.empty(rows, self.n, dtype=torch.bfloat16)
        elif (out := self.outputs.get(rows)) is None:
            out = self.outputs[rows] = torch.empty(rows, self.n, dtype=torch.bfloat16)
        if self.function(x.data_ptr(), rows, self.k, self.n, *self.pointers, out.data_ptr(), torch.get_num_threads()):
            raise MemoryError("the native int kernel could not allocate its float32 copy of the input")
        return out


class NativeInt4Matmul(_NativeProduct):
    """y = x @ W.T with W = (q - 8) * scale + zero per group of 32 input columns, as
    ``_weight_int4pack_mm_for_cpu`` with the same bfloat16 ``scales_and_zeros`` ([K / 32, N, 2])."""

    def __init__(self, q: torch.Tensor, scales_and_zeros: torch.Tensor, reuse_output: bool = False):
        n, k = q.shape
        if k % GROUP_SIZE:
            raise ValueError(f"in_features {k} is not a multiple of {GROUP_SIZE}")
        scale, zero = scales_and_zeros.float().unbind(-1)  # the bfloat16 values torch's kernel reads, exactly
        bias = (zero - 8 * scale).T.contiguous()  # exact: 8 * scale is a power-of-two multiple
        super().__init__(_library().int4_matmul, n, k, (pack_int4_words(q), scale.T.contiguous(), bias),
                         reuse_output)


class NativeInt8Matmul(_NativeProduct):
    """y = (x @ W.T) * scale with int8 W [N, K] and one bfloat16 scale per output, as ``_weight_int8pack_mm``."""

    def __init__(self, weight: torch.Tensor, scale: torch.Tensor, reuse_output: bool = False):
        weights = (weight.to(torch.int8).contiguous(), scale.to(torch.bfloat16).float().contiguous())
        super().__init__(_library().int8_matmul, *weight.shape, weights, reuse_output)
