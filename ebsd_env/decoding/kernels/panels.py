"""The ``avx2-panels`` kernel variant: float32 linear layers whose cost barely grows from one row to six.

A CPU BLAS multiplies a wide weight by a few rows about as fast per row as by one: on a 2-core AVX2 AMD EPYC
(Zen 3) a pass through the embedded verifier's linear layers took 50-54 ms for one row with the fastest of
torch's layouts and 76-79 / 101-114 / 118-139 ms for 2 / 4 / 6 rows (docs/benchmarks.md). The weights, 540 MB
of float32, have to stream from memory once per pass whatever the rows, and the arithmetic for 6 rows is a
fraction of that time, so the rows after the first should be nearly free. ``panels_avx2.c`` does that: it reads
each weight once per call and multiplies it by up to 6 rows while it is in registers, prefetching the weights it
needs next (how, in the C file). Each `PanelLinear` keeps its weight in that file's layout, panels of 16 output
columns interleaved per input index, a copy of the weight (the original stays with the model where other
buckets of rows use it).

It needs an x86-64 CPU with AVX2 and FMA and a C compiler (`ebsd_env.decoding.kernels.native`); where either is
missing the variant is not available and ``auto`` does not time it. Whether it is used, and for which numbers of
rows, is measured like every variant (`ebsd_env.decoding.kernels`).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch
from torch import nn

from .native import INT, POINTER, load_native

SOURCE = Path(__file__).with_name("panels_avx2.c")
PANEL = 16  # output columns per panel, as the C file's PANEL


def _load() -> ctypes.CDLL | str:
    """The library, or why there is none: x [m, k], m, k, n, panels, bias or NULL, y [m, n], threads."""
    return load_native(SOURCE, "the avx2-panels float32 kernels",
                       (("panels_linear", (POINTER, INT, INT, INT, POINTER, POINTER, POINTER, INT)),))


@functools.cache
def _function():
    """The C function of `PanelLinear.forward` (looked up once: `load_native`'s cache hashes its arguments)."""
    return _load().panels_linear


def panels_problem() -> str | None:
    """Why the ``avx2-panels`` kernels cannot run here (None if they can); builds them on first use."""
    library = _load()
    return library if isinstance(library, str) else None


def panels_available(device: str | torch.device) -> bool:
    return torch.device(device).type == "cpu" and panels_problem() is None


def to_panels(weight: torch.Tensor) -> torch.Tensor:
    """[N, K] float32 as [ceil(N / 16), K, 16]: panel p, input index i holds W[16p .. 16p + 16, i] (zero rows pad
    the last panel)."""
    n, k = weight.shape
    padded = torch.zeros(-(-n // PANEL) * PANEL, k, dtype=torch.float32)
    padded[:n] = weight
    return padded.reshape(-1, PANEL, k).transpose(1, 2).contiguous()


def from_panels(panels: torch.Tensor, n: int) -> torch.Tensor:
    """The [n, K] weight `to_panels` laid out."""
    return panels.transpose(1, 2).reshape(-1, panels.shape[1])[:n].contiguous()


class PanelLinear(nn.Module):
    """A float32 `nn.Linear` computed by ``panels_avx2.c`` over its weight laid out in panels of 16 output columns
    (`to_panels`), with the layer's bias. Inference only; the panels are a layout, so they stay out of the state
    dict (`dense_state` gives the weight back)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        problem = panels_problem()
        if problem is not None:
            raise RuntimeError(f"{problem}: use another kernel variant (kernels='plain' or 'auto')")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("panels", to_panels(linear.weight.detach().float()), persistent=False)
        bias = None if linear.bias is None else linear.bias.detach().float().contiguous()
        self.register_buffer("bias", bias, persistent=False)

    def dense_state(self) -> dict[str, torch.Tensor]:
        """The `nn.Linear`'s ``weight`` (and ``bias``), as a weight hash reads them (`PackedLinear.dense_state`)."""
        state = {"weight": from_panels(self.panels, self.out_features)}
        if self.bias is not None:
            state["bias"] = self.bias
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The C code reads rows x in_features contiguous float32 values: anything else is converted or refused
        # here, never read out of bounds. This runs for every linear layer of every forward (211 calls in the
        # embedded verifier's), so it does little: no reshapes (a contiguous [..., in] input is rows x in as it
        # is), the buffers read from `_buffers` (nn.Module's attribute lookup took ~1.6 us each).
        if x.shape[-1] != self.in_features or x.dtype is not torch.float32 or not x.is_cpu:
            raise ValueError(f"PanelLinear takes float32 CPU inputs of width {self.in_features}, "
                             f"got {x.dtype} {tuple(x.shape)} on {x.device}")
        if not x.is_contiguous():
            x = x.contiguous()
        out = torch.empty(*x.shape[:-1], self.out_features, dtype=torch.float32)
        rows = x.numel() // self.in_features
        if rows:
            buffers = self._buffers
            bias = buffers["bias"]
            _function()(x.data_ptr(), rows, self.in_features, self.out_features, buffers["panels"].data_ptr(),
                        None if bias is None else bias.data_ptr(), out.data_ptr(), torch.get_num_threads())
        return out
