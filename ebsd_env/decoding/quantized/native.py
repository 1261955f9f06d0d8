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

The C file is compiled once per machine and loaded with ctypes by `ebsd_env.decoding.kernels.native` (the
compiler, the cache, the shared OpenMP runtime); each call passes the tensors' data pointers and torch's thread
count, and the output columns are split between threads. It needs an x86-64 CPU with AVX2 and FMA and a
compiler; where either is missing, `native_problem` says which and the drafter keeps torch's kernels. Whether it is used
is measured, not assumed (`choose_runner_matmul` in ``ebsd_env.decoding.quantized.runner``): on a CPU where
torch's kernels are faster they stay.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import torch

from ...errors import ModelLoadError
from ..kernels.native import FLOAT, INT, POINTER, load_native

SOURCE = Path(__file__).with_name("avx2.c")
GROUP_SIZE = 32  # the C kernel's int4 group: 4 words of 8 nibbles


def _load() -> ctypes.CDLL | str:
    """The compiled library, or why there is none (`load_native`)."""
    return load_native(SOURCE, "the native int kernels", (
        ("int4_matmul", (POINTER, INT, INT, INT, POINTER, POINTER, POINTER, POINTER, INT)),
        ("int8_matmul", (POINTER, INT, INT, INT, POINTER, POINTER, POINTER, INT)),
        ("rms_norm_bf16", (POINTER, INT, INT, POINTER, FLOAT, INT, POINTER))))


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


class NativeNorm:
    """The int4 runner's RMS norm of bfloat16 rows in one C call (``rms_norm_bf16`` in ``avx2.c``) instead of nine
    torch operations: torch's formula and roundings, its sum of squares in the order of torch's own row sum (its
    AVX2 or AVX-512 kernels). Used only where `matches_torch` says it gives torch's bits on this machine (torch
    built or dispatched otherwise may sum in another order)."""

    def __init__(self, eps: float):
        self.function, self.eps = _library().rms_norm_bf16, float(eps)
        # The floats per vector of torch's own sum kernels here (its AVX-512 kernels add 16 lanes, AVX2 ones 8).
        self.lanes = 16 if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else 8

    def __call__(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        rows, width = x.shape  # the runner passes contiguous 2-D bfloat16 rows and a bfloat16 weight of their width
        out = torch.empty_like(x)
        if self.function(x.data_ptr(), rows, width, weight.data_ptr(), self.eps, self.lanes, out.data_ptr()):
            raise ValueError(f"rms_norm_bf16 refused {rows} rows of width {width} (a multiple of "
                             f"{4 * self.lanes} is needed)")
        return out

    def matches_torch(self, torch_norm, weights: list[torch.Tensor], trials: int = 8) -> bool:
        """Whether this norm gives `torch_norm`'s bits on random rows (1 and 3 at a time, scales 1e-3 to 1e3) for
        each weight: the check made before the runner uses it."""
        generator = torch.Generator().manual_seed(0)
        width = weights[0].shape[0]
        if width % (4 * self.lanes):
            return False
        for trial in range(trials):
            for rows in (1, 3):
                x = (torch.randn(rows, width, generator=generator) * 10.0 ** (trial % 7 - 3)).to(torch.bfloat16)
                for weight in weights:
                    if not torch.equal(self(x, weight), torch_norm(x, weight)):
                        return False
        return True
