"""Kernel variants (ways to run a float32 ``nn.Linear``), the buckets of rows they are chosen per, the dispatch layer.

`WidthDispatchLinear` runs each call with its bucket's variant, padded to a cheaper row count where one was measured.

Variants (`VARIANTS`), each a module that replaces an ``nn.Linear`` and computes the same product:

- ``plain``: the stock module (torch's default CPU matmul, ``x @ W.T``); always available, and the fallback;
- ``onednn``: the weight prepacked for oneDNN (`PackedLinear`);
- ``transposed``: a contiguous copy of ``W.T``, multiplied as ``x @ W_t`` (`TransposedLinear`): BLAS then reads
  the weight along its rows. On a 2-core AVX2 AMD EPYC it made one-token decoding 20 % cheaper and two tokens
  28 % cheaper than ``plain``; it costs a second copy of the weights where other buckets keep ``plain``;
- ``weight-left``: the product computed as ``(W @ x.T).T`` with the same weight tensor (`WeightLeftLinear`):
  the rows become BLAS's narrow side. On that EPYC, 3-4 rows cost 27 % less than ``plain``; wide inputs much more.
- ``mkl-packed-4``, ``-8``, ``-16``: the weight packed once by MKL for products of exactly 4, 8 or 16 rows
  (`MklPackedLinear`; other row counts take torch's plain path over the same weight). On a 2-core AVX-512 + AMX
  Xeon, one pass through the embedded verifier's linears took 58 / 67 / 76 ms at 4 / 8 / 16 rows packed against
  70-78 / 84-103 / 99-104 ms with the other variants (9-19 % less, not 17-27 %, when the host was busier); the
  likely reason is that an unpacked product packs its weight again on every call once it has a few rows. Only
  the packed row count gains, so a bucket that picks one pads its smaller row counts up to it. A pack holds as
  many touched bytes as the weight (MKL reserves ~2-20x as much address space).
- ``avx2-panels``: the weight laid out in panels of 16 output columns, multiplied by our own AVX2 C code, which
  reads each weight once for up to 6 rows (`PanelLinear`, `ebsd_env.decoding.kernels.panels`); on x86-64 CPUs
  with AVX2 and FMA where a C compiler can build it. A copy of the weights.

Why several: a CPU BLAS multiplies a wide weight by a few rows with different code for each shape, and which is
fastest depends on the CPU, the thread count and the number of rows. For the same reason an odd row count can
cost more than the next even one (3 rows 24 % more than 4 with ``plain`` on that EPYC): a layer can be told to
pad such calls with zero rows (`WidthDispatchLinear`'s ``pad_rows``); each output row depends only on its input
row, so the rows kept are the product of the real rows. `ebsd_env.decoding.kernels` (the package) measures and chooses.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .panels import PanelLinear, panels_available


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


class TransposedLinear(nn.Module):
    """A float32 `nn.Linear` holding its weight transposed and contiguous, ``(in, out)``, multiplied as
    ``x @ W_t``. Inference only; the copy is a layout, so it stays out of the state dict (`dense_state`)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.register_buffer("weight_t", linear.weight.detach().t().contiguous(), persistent=False)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach(), persistent=False)

    def dense_state(self) -> dict[str, torch.Tensor]:
        """The `nn.Linear`'s ``weight`` (and ``bias``), as a weight hash reads them (`PackedLinear.dense_state`)."""
        state = {"weight": self.weight_t.t().contiguous()}
        if self.bias is not None:
            state["bias"] = self.bias
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.matmul(x, self.weight_t)
        return out if self.bias is None else out.add_(self.bias)


class WeightLeftLinear(nn.Module):
    """A float32 `nn.Linear` computed as ``(W @ x.T).T``: the same weight and bias tensors (tied weights stay
    tied, nothing is copied), the rows of `x` on BLAS's narrow side. Inference only."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        # Row-major again (a copy of rows x out floats): the transposed product would otherwise flow on as a
        # strided view, and the attention and norms after it ran ~35 % slower on such views on an AVX2 EPYC.
        out = torch.mm(self.weight, flat.t()).t().contiguous()
        if self.bias is not None:
            out.add_(self.bias)
        return out.reshape(*x.shape[:-1], self.out_features)


class MklPackedLinear(nn.Module):
    """A float32 `nn.Linear` whose weight MKL packed for products of exactly `rows` rows
    (``torch.ops.mkl._mkl_reorder_linear_weight``, the packed GEMM torch's compiler uses on CPUs); calls with
    another row count run torch's plain product over the original weight, which it keeps (the same tensor: tied
    weights stay tied). Inference only; the pack is a layout, so it stays out of the state dict."""

    def __init__(self, linear: nn.Linear, rows: int):
        super().__init__()
        self.in_features, self.out_features, self.rows = linear.in_features, linear.out_features, rows
        self.weight, self.bias = linear.weight, linear.bias
        self.register_buffer("packed", torch.ops.mkl._mkl_reorder_linear_weight(linear.weight.detach(), rows),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() != self.rows * self.in_features:
            # MKL's op would fall back to the same product, ~20 us a call slower (measured on the Xeon)
            return nn.functional.linear(x, self.weight, self.bias)
        flat = x.reshape(-1, self.in_features)
        out = torch.ops.mkl._mkl_linear(flat, self.packed, self.weight, self.bias, self.rows)
        return out.reshape(*x.shape[:-1], self.out_features)


def mkl_packing_available(device: str | torch.device) -> bool:
    return (torch.device(device).type == "cpu" and torch.backends.mkl.is_available()
            and hasattr(torch.ops.mkl, "_mkl_reorder_linear_weight"))


MKL_PACKED_ROWS = (4, 8, 16)  # the row counts packs are made for: the top of the buckets 3-4, 5-8 and 9-16


def is_float_linear(module: nn.Module) -> bool:
    """A stock float32 `nn.Linear` (what kernel variants convert; subclasses and quantized layers are left alone)."""
    return type(module) is nn.Linear and module.weight.dtype == torch.float32


def float_linears(model: nn.Module) -> list[tuple[nn.Module, str, nn.Linear]]:
    """(parent, attribute, layer) of every float32 `nn.Linear` of `model`, in module order."""
    return [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
            if is_float_linear(child)]


def onednn_available(device: str | torch.device) -> bool:
    return torch.device(device).type == "cpu" and torch.backends.mkldnn.is_available()


def on_cpu(device: str | torch.device) -> bool:
    # On a GPU the library picks its own kernels per shape; these layouts are measured on CPUs only.
    return torch.device(device).type == "cpu"


@dataclass(frozen=True)
class KernelVariant:
    """One way to run float32 linear layers: `convert` maps an `nn.Linear` to the module that replaces it.
    `row_invariant`: each row of a product gets the same bits whatever the number of rows (our C kernel sums in
    one fixed order; the BLAS behind torch's layouts blocks its sums by the shape, so a row's last bits depend on
    the rows beside it)."""

    name: str
    description: str
    convert: Callable[[nn.Linear], nn.Module]
    available: Callable[[torch.device], bool]
    row_invariant: bool = False


VARIANTS: dict[str, KernelVariant] = {
    "plain": KernelVariant("plain", "stock float32 nn.Linear", lambda linear: linear, lambda device: True),
    "onednn": KernelVariant("onednn", "float32 weights prepacked for oneDNN (PackedLinear)", PackedLinear,
                            onednn_available),
    "transposed": KernelVariant("transposed", "a contiguous transposed copy of the weights (TransposedLinear)",
                                TransposedLinear, on_cpu),
    "weight-left": KernelVariant("weight-left", "the product as (W @ x.T).T (WeightLeftLinear)", WeightLeftLinear,
                                 on_cpu),
    **{f"mkl-packed-{rows}": KernelVariant(
        f"mkl-packed-{rows}", f"float32 weights packed by MKL for {rows}-row products (MklPackedLinear)",
        functools.partial(MklPackedLinear, rows=rows), mkl_packing_available) for rows in MKL_PACKED_ROWS},
    "avx2-panels": KernelVariant("avx2-panels", "float32 weights in panels of 16 columns for AVX2 C code that reads "
                                 "each weight once for up to 6 rows (PanelLinear; needs AVX2, FMA and a C compiler)",
                                 PanelLinear, panels_available, row_invariant=True),
}
KERNEL_CHOICES = ("auto", *VARIANTS)


# Buckets of rows (tokens, over the batch) a forward multiplies by every weight: one-token decoding, the k + 1
# rows of a verification, a prefill. (label, fewest rows, most rows); the last bucket has no upper end and is
# timed at 17 and 32 rows. The other buckets are timed at every row count, since a kernel's cost need not grow
# with the rows (plain float32 took longer for 3 rows than for 4 on an AVX2 EPYC): a row count can be padded to
# a cheaper one of its bucket.
ROW_BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-8", 5, 8), ("9-16", 9, 16), ("17+", 17, 32))
BUCKETS = tuple(label for label, _, _ in ROW_BUCKETS)
LAST_BUCKET = ROW_BUCKETS[-1][0]
BUCKET_ROWS = {label: (low, high) if label == LAST_BUCKET else tuple(range(low, high + 1))
               for label, low, high in ROW_BUCKETS}
TIMED_ROWS = tuple(sorted({rows for timed in BUCKET_ROWS.values() for rows in timed}))
PADDED_UP_TO = ROW_BUCKETS[-1][1] - 1  # padding stays within the buckets timed at every row count


def bucket_of(rows: int) -> str:
    """The label of the bucket a forward with `rows` rows falls in (0 rows: the first)."""
    for label, _, high in ROW_BUCKETS[:-1]:
        if rows <= high:
            return label
    return LAST_BUCKET


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


def _padded(run: Callable[[torch.Tensor], torch.Tensor], rows_to: int, x: torch.Tensor) -> torch.Tensor:
    """`run` over `x`'s rows and zero rows up to `rows_to`, the extra output rows dropped."""
    flat = x.reshape(-1, x.shape[-1])
    out = run(torch.cat((flat, flat.new_zeros(rows_to - flat.shape[0], flat.shape[1]))))
    return out[: flat.shape[0]].reshape(*x.shape[:-1], out.shape[-1])


class WidthDispatchLinear(nn.Module):
    """A float32 linear layer that runs each call with the variant `by_bucket` names for its number of rows,
    padded with zero rows to `pad_rows[rows]` rows where that count was measured cheaper.

    It keeps the plain weight (the same tensor: tied weights stay tied) and one converted module per other
    variant it uses, so one model serves a prefill, one-token decoding and a verification of k + 1 tokens, each
    with its bucket's fastest kernel, at the memory cost of each converted copy. Inference only.
    """

    def __init__(self, linear: nn.Linear, by_bucket: dict[str, str], pad_rows: dict[int, int] | None = None):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight, self.bias = linear.weight, linear.bias
        self.by_bucket, self.pad_rows = dict(by_bucket), dict(pad_rows or {})
        # A plain dict, not a ModuleDict: the converted copies are a layout of the same weights, so they stay out
        # of the state dict (a weight hash then describes the weights, whatever kernels this machine picked).
        self.converted = {name: VARIANTS[name].convert(linear)
                          for name in sorted(set(by_bucket.values())) if name != "plain"}
        runners = {"plain": self._plain, **self.converted}
        # The runner of every row count up to the last bucket's first; wider calls take the last entry.
        self._by_rows = []
        for rows in range(ROW_BUCKETS[-1][1] + 1):
            run = runners[by_bucket[bucket_of(rows)]]
            to = self.pad_rows.get(rows, rows)
            self._by_rows.append(run if to == rows else functools.partial(_padded, run, to))

    def _plain(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        table = self._by_rows
        return table[rows](x) if rows < len(table) else table[-1](x)

    def extra_repr(self) -> str:
        padded = f", pad_rows={self.pad_rows}" if self.pad_rows else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, by_bucket={self.by_bucket}{padded}"


CONVERTED_LINEARS = (PackedLinear, TransposedLinear, WeightLeftLinear, MklPackedLinear, PanelLinear,
                     WidthDispatchLinear)


def dense_linear(module: nn.Module) -> nn.Linear:
    """A plain `nn.Linear` over the dense weights of a converted one (`CONVERTED_LINEARS`): the same tensors where
    the variant keeps them (plain, weight-left, width dispatch), a dense copy of a packed or transposed layout."""
    state = module.dense_state() if callable(getattr(module, "dense_state", None)) else {
        "weight": module.weight, **({"bias": module.bias} if module.bias is not None else {})}
    linear = nn.Linear(module.in_features, module.out_features, bias="bias" in state, device="meta")
    linear.weight = nn.Parameter(state["weight"], requires_grad=False)
    if "bias" in state:
        linear.bias = nn.Parameter(state["bias"], requires_grad=False)
    return linear


@contextlib.contextmanager
def dense_linears(model: nn.Module) -> Iterator[nn.Module]:
    """`model` with each converted linear layer swapped for `dense_linear` of it while the block runs, restored
    after: what derives a quantized copy from a verifier whose kernels were chosen already (the lossy reference
    of a pair whose drafter is not the int4 copy)."""
    swapped = [(parent, name, module) for parent in model.modules() for name, module in parent.named_children()
               if isinstance(module, CONVERTED_LINEARS)]
    for parent, name, module in swapped:
        setattr(parent, name, dense_linear(module))
    try:
        yield model
    finally:
        for parent, name, module in swapped:
            setattr(parent, name, module)


def apply_choice(model: nn.Module, by_bucket: dict[str, str], pad_rows: dict[int, int] | None = None) -> nn.Module:
    """Convert `model`'s float32 linear layers, in place, to run each bucket of rows with its variant (and each
    row count in `pad_rows` padded): one variant everywhere and no padding converts them outright
    (`apply_variant`), anything else wraps them (`WidthDispatchLinear`)."""
    for rows, to in (pad_rows or {}).items():
        if not (1 <= rows < to <= PADDED_UP_TO and bucket_of(rows) == bucket_of(to)):
            raise ValueError(f"pad_rows maps {rows} rows to {to}: padding must go up within a bucket of rows "
                             f"({', '.join(BUCKETS)}) below {PADDED_UP_TO + 1} rows")
    variants = set(by_bucket.values())
    if len(variants) == 1 and not pad_rows:
        return apply_variant(model, variants.pop())
    for parent, name, linear in float_linears(model):
        setattr(parent, name, WidthDispatchLinear(linear, by_bucket, pad_rows))
    return model
