"""Weight-only quantized drafters on torch's own CPU kernels: ``int4`` (groups of 32) and ``int8`` (per channel).
The quantization and the modules live here; the copy itself is built by ``runner.quantized_drafter``.

Both are copies of the verifier whose linear layers keep their weights in 4 or 8 bits while activations stay in
bfloat16:

- `Int4Linear`: asymmetric min/max quantization per group of `GROUP_SIZE` input columns, w = d*q + m with q in
  0..15 (`quantize_int4`), run by ``aten._weight_int4pack_mm_for_cpu``. The embedded verifier is a Q4_1 GGUF
  file dequantized to float32, i.e. exactly of this form with 32-column groups that each contain q = 0 and
  q = 15, so the min/max recovers its integers, scales and minimums exactly.
- `Int8Linear`: symmetric int8 per output channel, run by ``aten._weight_int8pack_mm``. The int4 drafter uses it
  for the output head (49152 x 576 for SmolLM2, tied to the embedding); the int8 drafter for every layer.

The two kernels are fast only with bfloat16 activations (float32 inputs take a path 10-40x slower), so a
quantized drafter runs its whole body in bfloat16 (embedding, norms, attention) and returns bfloat16 logits,
which the decoder casts to float32. The kernel computes w = (q - 8) * scale + zero per group, with
``scales_and_zeros`` of shape [K / group, N, 2] (scale, zero): scale = d and zero = m + 8d. Rounding scale and
zero to bfloat16 makes the drafter a close copy of the verifier rather than an exact one (greedy agreement
about 0.98 for int4 and 0.97 for int8 on the embedded verifier).

Decoding does not go through transformers' modules: for a plain Llama-family verifier, `QuantizedLlamaRunner`
(``ebsd_env.decoding.quantized.runner``) runs the same quantized weights in one flat loop, with q/k/v and
gate/up fused into one matmul each, a preallocated KV cache and rotary tables computed once. At one token per
call, the per-module bookkeeping of the transformers forward (cache objects, masks, hooks, repeated casts) cost
as much as the int4 matmuls themselves; the runner removes it and gives the same tokens (`ebsd bench decoder`
reports the drafter's cost ratio). `torch.compile` was tried on this path and not kept: compiled per layer it
was no faster, and compiled over the whole body (dynamic cache length) it was ten times slower after a minute of
compiling on a 2-core CPU. The transformers model stays the drafter's public face (transformers' assisted
generation runs it). On a CPU without AVX-512 BF16 the runner's products can run on the project's own AVX2
kernels instead of torch's, where that measures faster (``ebsd_env.decoding.quantized.native``).

Never uses torchao: it does not work on this CPU build, and transformers imports it on its own once installed.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn
from transformers import PreTrainedModel

from ...errors import ModelLoadError

GROUP_SIZE = 32
# `_convert_weight_to_int4pack_for_cpu` packs output rows in blocks of 16.
INT4_ROW_MULTIPLE = 16
QUANTIZED_KINDS = ("int4", "int8")
ACTIVATION_DTYPE = torch.bfloat16


# ---------------------------------------------------------------------------------------------- int4
def quantize_int4(weight: torch.Tensor, group_size: int = GROUP_SIZE) -> tuple[torch.Tensor, ...]:
    """Asymmetric min/max quantization of a [N, K] weight per group of `group_size` input columns.

    Returns (q, d, m): q int32 [N, K] in 0..15, d (scale) and m (minimum) float32 [N, K / group_size], with
    w ≈ d * q + m in each group. A weight that is exactly of this form, with q = 0 and q = 15 in every group,
    comes back exactly where its d and m are float16 values (as in GGUF Q4_1 files).
    """
    n, k = weight.shape
    if k % group_size:
        raise ValueError(f"in_features {k} is not a multiple of the group size {group_size}")
    groups = weight.detach().float().reshape(n, k // group_size, group_size)
    low, high = groups.amin(-1), groups.amax(-1)
    d = (high - low) / 15
    safe = torch.where(d > 0, d, torch.ones_like(d))  # a constant group: q = 0 and w = m
    q = torch.round((groups - low[..., None]) / safe[..., None]).clamp_(0, 15)
    return q.to(torch.int32).reshape(n, k), d, low


def dequantize_int4(q: torch.Tensor, d: torch.Tensor, m: torch.Tensor, group_size: int = GROUP_SIZE) -> torch.Tensor:
    """The float32 weight d * q + m of `quantize_int4`'s output."""
    n, k = q.shape
    groups = q.float().reshape(n, k // group_size, group_size)
    return (groups * d[..., None] + m[..., None]).reshape(n, k)


def int4_problem(linear: nn.Linear, group_size: int = GROUP_SIZE) -> str | None:
    """Why torch's int4 CPU kernel cannot hold this layer's weight (None if it can)."""
    if linear.in_features % group_size:
        return f"in_features {linear.in_features} is not a multiple of the group size {group_size}"
    if linear.out_features % INT4_ROW_MULTIPLE:
        return f"out_features {linear.out_features} is not a multiple of {INT4_ROW_MULTIPLE}"
    return None


class Int4Linear(nn.Module):
    """A linear layer with int4 weights (groups of `group_size` input columns) and bfloat16 activations."""

    def __init__(self, linear: nn.Linear, group_size: int = GROUP_SIZE):
        super().__init__()
        problem = int4_problem(linear, group_size)
        if problem:
            raise ValueError(problem)
        self.in_features, self.out_features, self.group_size = linear.in_features, linear.out_features, group_size
        q, d, m = quantize_int4(linear.weight, group_size)
        weight = linear.weight.detach()
        self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(weight.device), 1))
        # The packed layout depends on the CPU (AVX2 and AVX-512 builds of the kernel pack differently), so a hash
        # of `packed` would tell the same weights apart on two machines: `dense_state` gives this digest of the
        # integers themselves instead (`ebsd_env.timing.cost_model.weight_state`).
        self._q_digest = hashlib.blake2b(q.to(torch.uint8).cpu().contiguous().numpy().tobytes(),
                                         digest_size=16).digest()
        # The kernel's convention: w = (q - 8) * scale + zero per group, as [K / group, N, (scale, zero)].
        scales_and_zeros = torch.stack([d, m + 8 * d], dim=-1).transpose(0, 1).contiguous()
        self.register_buffer("scales_and_zeros", scales_and_zeros.to(ACTIVATION_DTYPE))
        bias = linear.bias.detach().to(ACTIVATION_DTYPE) if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def dense_state(self) -> dict[str, torch.Tensor]:
        """The layer's state without the CPU-specific packing: a digest of the 4-bit integers (in [N, K] order),
        the scales and zeros, the bias; what a weight hash reads, so it describes the weights, not their layout."""
        state = {"weight_int4_digest": torch.frombuffer(bytearray(self._q_digest), dtype=torch.uint8),
                 "scales_and_zeros": self.scales_and_zeros}
        if self.bias is not None:
            state["bias"] = self.bias
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)  # the kernel takes 2-D inputs only
        if flat.dtype != ACTIVATION_DTYPE:
            flat = flat.to(ACTIVATION_DTYPE)
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, self.packed, self.group_size, self.scales_and_zeros)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"


# ---------------------------------------------------------------------------------------------- int8
def quantize_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output channel: (q int8 [N, K] in -127..127, scale float32 [N]), w ≈ q * scale."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1) / 127
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return torch.round(weight / scale[:, None]).clamp_(-127, 127).to(torch.int8), scale


class Int8Linear(nn.Module):
    """A linear layer with int8 weights (one scale per output channel) and bfloat16 activations."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        q, scale = quantize_int8(linear.weight)
        self.register_buffer("weight_int8", q)
        self.register_buffer("scales", scale.to(ACTIVATION_DTYPE))
        bias = linear.bias.detach().to(ACTIVATION_DTYPE) if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features)
        if flat.dtype != ACTIVATION_DTYPE:
            flat = flat.to(ACTIVATION_DTYPE)
        out = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scales)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


# ---------------------------------------------------------------------------------------------- drafters
def model_linears(model: nn.Module) -> list[tuple[str, nn.Module, str, nn.Linear]]:
    """(qualified name, parent, attribute, layer) of every `nn.Linear` of `model`."""
    return [(f"{prefix}.{name}" if prefix else name, parent, name, child)
            for prefix, parent in model.named_modules() for name, child in parent.named_children()
            if isinstance(child, nn.Linear)]


def check_quantizable(verifier: PreTrainedModel, kind: str, group_size: int = GROUP_SIZE) -> None:
    """Refuse, before any copying, what the kernels cannot run: another device, or int4-incompatible shapes."""
    if kind not in QUANTIZED_KINDS:
        raise ModelLoadError(f"unknown quantized drafter {kind!r}; valid: {', '.join(QUANTIZED_KINDS)}")
    device = verifier.get_input_embeddings().weight.device
    if device.type != "cpu":
        raise ModelLoadError(f"the {kind} drafter runs on torch's CPU kernels but the verifier is on "
                             f"{device.type!r}: load the pair with device='cpu', or pick drafter='bf16'")
    from ..kernels.variants import CONVERTED_LINEARS

    packed = next((name for name, module in verifier.named_modules() if isinstance(module, CONVERTED_LINEARS)), None)
    if packed is not None:
        raise ModelLoadError(f"the {kind} drafter quantizes float32 nn.Linear weights but layer {packed!r} is "
                             "already converted to a kernel variant: derive the drafter before choosing kernels")
    head = verifier.get_output_embeddings()
    for name, _, _, linear in model_linears(verifier):
        if type(linear) is not nn.Linear or linear.weight.dtype != torch.float32 or linear.weight.is_meta:
            raise ModelLoadError(f"the {kind} drafter quantizes float32 nn.Linear weights; layer {name!r} is "
                                 f"{type(linear).__name__} ({linear.weight.dtype}): derive it from a plain "
                                 "float32 verifier (load_pair(dtype=None, kernels='plain'))")
        if kind == "int4" and linear is not head:
            problem = int4_problem(linear, group_size)
            if problem:
                raise ModelLoadError(f"int4 needs weight shapes the int4 CPU kernel can pack; layer {name!r} is "
                                     f"[{linear.out_features}, {linear.in_features}]: {problem}: use "
                                     "drafter='int8'")


@torch.no_grad()
def requantization_error(model: PreTrainedModel, group_size: int = GROUP_SIZE) -> float:
    """Largest |w - (d*q + m)| over the layers the int4 drafter stores in int4 (all linear layers but the output
    head, which is int8): 0 for a model whose weights came from int4 groups, such as the embedded verifier
    (its Q4_1 GGUF file; the tied embedding and head are stored at a higher precision there)."""
    head = model.get_output_embeddings()
    worst = 0.0
    for *_, linear in model_linears(model):
        if type(linear) is nn.Linear and linear is not head and int4_problem(linear, group_size) is None:
            q, d, m = quantize_int4(linear.weight, group_size)
            error = (dequantize_int4(q, d, m, group_size) - linear.weight.float()).abs().max()
            worst = max(worst, float(error))
    return worst
