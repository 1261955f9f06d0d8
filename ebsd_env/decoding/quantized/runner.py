"""The int4 / int8 copy of a verifier (`quantized_drafter`), its flat decoding loop (`QuantizedLlamaRunner`) and
the choice of the kernels its matrix products run on.

The runner runs the weights of `quantized_drafter` (the same quantization, the same
bfloat16 activations) without transformers' modules: q/k/v and gate/up fused into one matmul each, a
preallocated KV cache, rotary tables computed once. At one token per call the transformers forward's per-module
bookkeeping cost as much as the int4 matmuls themselves (the module docstring of ``weights`` tells the rest).
It attends by the verifier's few-query C kernel where that builds (`runner_attention`), else by torch's SDPA, and
normalizes in one C call where that gives torch's bits on this machine (`NativeNorm`, checked when it is built).

Its matrix products run on one of two backends (``matmul``): ``torch`` (``_weight_int4pack_mm_for_cpu`` and
``_weight_int8pack_mm``) or ``native`` (`ebsd_env.decoding.quantized.native`: the same products in AVX2
C, much faster where the CPU has no AVX-512 BF16). ``auto`` (the default of `quantized_drafter`) times both on
this machine the first time (`choose_runner_matmul`: decoding steps of the runner itself, interleaved, medians)
and caches the choice in ``ebsd_cache_dir()/kernels.json`` per CPU, torch version, thread count and model shape;
``native`` must save `MATMUL_MARGIN` to be chosen. The two give the same tokens almost always, not always: their
float32 sums are added in another order (tests/test_native_quantized.py).
"""

from __future__ import annotations

import copy
import os
import statistics
import time

import torch
from torch import nn
from transformers import PreTrainedModel

from ...io import add_cache_entry, read_cache_entries
from ...machine import cpu_flags_digest, cpu_model
from .. import kernels
from ..attention import attend_cache, few_query_problem
from .native import NativeInt4Matmul, NativeInt8Matmul, NativeNorm, native_problem
from .weights import (
    ACTIVATION_DTYPE,
    GROUP_SIZE,
    Int4Linear,
    Int8Linear,
    check_quantizable,
    model_linears,
    quantize_int4,
    quantize_int8,
)

MATMULS = ("torch", "native")
MATMUL_CHOICES = ("auto", *MATMULS)
MATMUL_MARGIN = 0.05
MATMUL_CACHE_VERSION = 1
MATMUL_ENV = "EBSD_RUNNER_MATMUL"  # torch / native: what ``auto`` means on this machine, e.g. for an A/B run
# How the runner attends: torch's SDPA on its bfloat16 cache, or the verifier's few-query kernel on a float32 copy
# of the same bfloat16 values (see `QuantizedLlamaRunner`).
SDPA, FEW_QUERY = "sdpa", "few-query-avx2"
ATTENTIONS = (SDPA, FEW_QUERY)
ATTENTION_ENV = "EBSD_RUNNER_ATTENTION"  # sdpa / few-query-avx2: what ``auto`` means here, e.g. for an A/B run
TIMED_STEPS = 8
TIMED_ROUNDS = 3


def runner_problem(model: PreTrainedModel) -> str | None:
    """Why `QuantizedLlamaRunner` cannot run this model's architecture (None if it can): it implements the plain
    Llama block only (pre-RMSNorm, rotary attention with grouped KV heads, SiLU-gated MLP, no biases)."""
    config = model.config.get_text_config()
    if config.model_type not in ("llama",):
        return f"model_type {config.model_type!r} is not llama"
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if rope.get("rope_type", "default") != "default":
        return f"rope type {rope.get('rope_type')!r}"
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return "biased linear layers"
    if getattr(config, "hidden_act", "silu") != "silu":
        return f"activation {config.hidden_act!r}"
    return None


def _rope_theta(config) -> float:
    rope = getattr(config, "rope_parameters", None) or {}
    return float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


class _QuantizedMatmul:
    """y = x @ W.T for a [N, K] float weight stored as int4 (groups) or int8 (per output channel), on torch's
    kernels or the native ones (the same quantized values either way; `reuse_output`: see `_NativeProduct`)."""

    def __init__(self, weight: torch.Tensor, kind: str, group_size: int, matmul: str = "torch",
                 reuse_output: bool = False):
        weight = weight.detach().float()
        self.native = None
        if kind == "int4":
            q, d, m = quantize_int4(weight, group_size)
            scales = torch.stack([d, m + 8 * d], dim=-1).transpose(0, 1).contiguous().to(ACTIVATION_DTYPE)
            if matmul == "native":
                self.native = NativeInt4Matmul(q, scales, reuse_output)
            else:
                self.packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1)
                self.scales, self.group_size = scales, group_size
        else:
            packed, scale = quantize_int8(weight)
            if matmul == "native":
                self.native = NativeInt8Matmul(packed, scale.to(ACTIVATION_DTYPE), reuse_output)
            else:
                self.packed, self.scales, self.group_size = packed, scale.to(ACTIVATION_DTYPE), None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.native is not None:
            return self.native(x)
        if self.group_size is None:
            return torch.ops.aten._weight_int8pack_mm(x, self.packed, self.scales)
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.packed, self.group_size, self.scales)


def forced_attention() -> str | None:
    """The attention `ATTENTION_ENV` names (None if unset), or one line naming a wrong value and its fix."""
    forced = os.environ.get(ATTENTION_ENV, "").strip()
    if forced and forced not in ATTENTIONS:
        raise ValueError(f"${ATTENTION_ENV} must be one of {', '.join(ATTENTIONS)}, got {forced!r}: unset it for auto")
    return forced or None


def runner_attention(attention: str = "auto") -> str:
    """The runner's attention: `attention` if named; for ``auto``, the one `ATTENTION_ENV` names, else the
    few-query kernel where it builds here, else SDPA. A wrong name is one line naming the valid ones."""
    if attention == "auto":
        return forced_attention() or (FEW_QUERY if few_query_problem() is None else SDPA)
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of auto, {', '.join(ATTENTIONS)}, got {attention!r}")
    if attention == FEW_QUERY and (problem := few_query_problem()) is not None:
        raise ValueError(f"attention={FEW_QUERY!r} cannot run here ({problem}): use 'sdpa' or 'auto'")
    return attention


class QuantizedLlamaRunner:
    """Single-sequence decoding of a weight-only quantized Llama copy: ``forward(ids)`` feeds new tokens and
    returns the last one's logits, ``crop(length)`` drops cached positions. The weights are those of
    `quantized_drafter` (same quantization, same bfloat16 activations), so the runner drafts the same tokens (on
    SDPA; nearly always on the few-query kernel, below); what it drops is the transformers forward's per-call
    overhead (see the module docstring).

    `attention` (``auto``, ``sdpa`` or ``few-query-avx2``, `runner_attention`): torch's SDPA on the bfloat16
    cache, or the verifier's few-query C kernel (`ebsd_env.decoding.attention.attend_cache`). torch's CPU SDPA
    on bfloat16 took ~375 us a layer for one query over ~220 positions on a 2-core AMD EPYC (Zen 3), a third of
    the whole step; the kernel takes float32, so the cache then holds the same bfloat16-rounded keys and values
    as float32 (each computed in bfloat16 as before, or the verifier's rounded to bfloat16 on `load_cache`),
    and the attention output is rounded to bfloat16 once. The two compute the attention's sums and exponential
    differently, so about 3 in 100 greedy drafted tokens differ on the embedded pair (docs/benchmarks.md); the
    choice is ``pair.metadata["drafter_attention"]`` and part of the pair's fingerprint."""

    def __init__(self, verifier: PreTrainedModel, kind: str, group_size: int = GROUP_SIZE, capacity: int = 512,
                 matmul: str = "torch", attention: str = "auto"):
        if matmul not in MATMULS:
            raise ValueError(f"matmul must be one of {', '.join(MATMULS)} here, got {matmul!r}")
        self.attention = runner_attention(attention)
        self.cache_dtype = torch.float32 if self.attention == FEW_QUERY else ACTIVATION_DTYPE
        if matmul == "native" and kind == "int4" and group_size != 32:
            raise ValueError(f"the native int4 kernel takes groups of 32, not {group_size}: use matmul='torch'")
        self.matmul = matmul
        config = verifier.config.get_text_config()
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.eps = config.rms_norm_eps
        self.scale = self.head_dim ** -0.5  # SDPA's default
        body = verifier.get_decoder()
        self.layers = []
        # The body's products may reuse their output tensors (each is consumed within its layer, before the same
        # product runs again); the head's may not: the decoder keeps the logits it returns.
        for layer in body.layers:
            attention, mlp = layer.self_attn, layer.mlp
            self.layers.append((
                layer.input_layernorm.weight.detach().to(ACTIVATION_DTYPE),
                _QuantizedMatmul(torch.cat([attention.q_proj.weight, attention.k_proj.weight,
                                            attention.v_proj.weight]), kind, group_size, matmul, True),
                _QuantizedMatmul(attention.o_proj.weight, kind, group_size, matmul, True),
                layer.post_attention_layernorm.weight.detach().to(ACTIVATION_DTYPE),
                _QuantizedMatmul(torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]), kind, group_size, matmul, True),
                _QuantizedMatmul(mlp.down_proj.weight, kind, group_size, matmul, True)))
        self.norm = body.norm.weight.detach().to(ACTIVATION_DTYPE)
        self.embedding = verifier.get_input_embeddings().weight.detach().to(ACTIVATION_DTYPE)
        self.head = _QuantizedMatmul(verifier.get_output_embeddings().weight, "int8", group_size, matmul)
        # As transformers does: angles in float32, cast to the activations' dtype.
        self.inv_freq = 1.0 / (_rope_theta(config) ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
        self.length = 0
        self._allocate(capacity)
        # The norm in one C call where it gives torch's bits here (checked now; else torch's nine operations).
        self.norm_kernel = "torch"
        if native_problem() is None:
            native = NativeNorm(self.eps)
            if native.matches_torch(self._rms, [self.layers[0][0], self.norm]):
                self._native_norm, self.norm_kernel = native, "native"

    def _allocate(self, capacity: int) -> None:
        positions = torch.outer(torch.arange(capacity).float(), self.inv_freq)
        angles = torch.cat([positions, positions], dim=-1)
        self.cos, sin = angles.cos().to(ACTIVATION_DTYPE), angles.sin().to(ACTIVATION_DTYPE)
        half = self.head_dim // 2  # the sine with the sign of rotate_half folded in (see `forward`)
        self.signed_sin = torch.cat([-sin[:, :half], sin[:, half:]], dim=-1)
        shape = (len(self.layers), self.kv_heads, capacity, self.head_dim)
        keys, values = torch.zeros(shape, dtype=self.cache_dtype), torch.zeros(shape, dtype=self.cache_dtype)
        if hasattr(self, "keys"):
            keys[:, :, :self.length], values[:, :, :self.length] = (self.keys[:, :, :self.length],
                                                                  self.values[:, :, :self.length])
        self.keys, self.values, self.capacity = keys, values, capacity

    def reset(self) -> None:
        self.length = 0

    def crop(self, length: int) -> None:
        self.length = min(self.length, max(0, length))

    @torch.inference_mode()
    def load_cache(self, cache, start: int, stop: int) -> None:
        """Take positions [start, stop) of a transformers cache of the verifier this runner copies (same layers
        and shapes; keys after rotary embedding, as here) instead of computing them; the runner then holds
        `stop` positions. `start` must not exceed the positions it holds."""
        if start > self.length:
            raise ValueError(f"load_cache from position {start}, but the runner holds {self.length} positions")
        if len(cache.layers) != len(self.layers):
            raise ValueError(f"the cache has {len(cache.layers)} layers, the runner {len(self.layers)}")
        if stop > self.capacity:
            self._allocate(max(2 * self.capacity, stop))
        for index, layer in enumerate(cache.layers):  # rounded to bfloat16 whatever the cache's dtype
            self.keys[index, :, start:stop] = layer.keys[0, :, start:stop].to(ACTIVATION_DTYPE)
            self.values[index, :, start:stop] = layer.values[0, :, start:stop].to(ACTIVATION_DTYPE)
        self.length = stop

    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """`_rms` of bfloat16 rows: by `NativeNorm` where it was found to give its bits here, else `_rms`."""
        if self.norm_kernel == "native":
            return self._native_norm(x, weight)
        return self._rms(x, weight)

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # In float32 and cast back, as transformers' LlamaRMSNorm (a bfloat16 norm changes drafted tokens). The
        # values of x * rsqrt(mean(x^2) + eps) to the bit (torch's mean is a sum and a division; x * x is pow(x,
        # 2)), written in place: on the CPU `rms_norm` runs those same ops plus allocations, which cost more
        # than the arithmetic on 576 numbers right after a matmul has evicted the caches (docs/benchmarks.md).
        x = x.to(torch.float32, copy=True)  # its own copy: the in-place ops below must not reach the caller's
        scale = (x * x).sum(-1, keepdim=True).div_(x.shape[-1]).add_(self.eps).rsqrt_()
        return x.mul_(scale).to(ACTIVATION_DTYPE).mul_(weight)

    def _rotate(self, qk: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
        # Queries and keys rotated together: x * cos + rotate_half(x) * sin, where rotate_half(x) * sin =
        # [x2, x1] * [-sin1, sin2] is [-x2, x1] * sin to the bit (a sign moves between the factors). In place on
        # the products' own tensors: the same roundings (each product, then the sum, in bfloat16).
        return (qk * cos).add_(qk.roll(self.head_dim // 2, -1).mul_(signed_sin))

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Feed 1-D `ids` (the tokens after the cached ones); bfloat16 logits of the last one."""
        count = ids.shape[0]
        start, stop = self.length, self.length + count
        if stop > self.capacity:
            self._allocate(max(2 * self.capacity, stop))
        heads, kv_heads, head_dim = self.heads, self.kv_heads, self.head_dim
        q_width, qk_width = heads * head_dim, (heads + kv_heads) * head_dim
        cos, signed_sin = self.cos[start:stop], self.signed_sin[start:stop]
        attention, silu = torch.nn.functional.scaled_dot_product_attention, torch.nn.functional.silu
        # Views made once per call, not per layer: each small op costs microseconds here (see `_rms`).
        keys, values = self.keys[:, None, :, :stop], self.values[:, None, :, :stop]  # [layer][1, kv, stop, d]
        new_keys, new_values = self.keys[:, :, start:stop], self.values[:, :, start:stop]
        # One query attends to every cached key; a block of them needs the causal mask.
        mask = None if count == 1 else torch.ones(count, stop, dtype=torch.bool).tril(start)
        few_query = self.attention == FEW_QUERY
        x = self.embedding[ids]
        for index, (norm1, qkv, out, norm2, gate_up, down) in enumerate(self.layers):
            projected = qkv(self._norm(x, norm1))
            qk = self._rotate(projected[:, :qk_width].view(count, -1, head_dim).transpose(0, 1), cos, signed_sin)
            new_keys[index].copy_(qk[heads:])  # bfloat16 values, stored as the cache's dtype
            new_values[index].copy_(projected[:, qk_width:].view(count, kv_heads, head_dim).transpose(0, 1))
            query = qk[:heads].float() if few_query else qk[:heads]
            attended = attend_cache(query, self.keys[index], self.values[index], stop, mask,
                                    self.scale) if few_query else None
            if attended is None:  # SDPA: the bfloat16 cache, or a case the kernel does not take (e.g. > 64 rows)
                attended = attention(query[None], keys[index], values[index], attn_mask=mask,
                                     enable_gqa=True)[0].transpose(0, 1)
            x += out(attended.reshape(count, q_width).to(ACTIVATION_DTYPE))  # x is this call's own tensor
            gate, up = gate_up(self._norm(x, norm2)).chunk(2, dim=-1)
            x += down(silu(gate).mul_(up))
        self.length = stop
        return self.head(self._norm(x[-1:], self.norm))[0]


# ---------------------------------------------------------------------------------------------- matmul choice
def runner_matmul_file():
    return kernels.kernel_cache_file().with_name("runner_matmul.json")  # looked up per call: tests redirect it


def runner_matmul_key(verifier: PreTrainedModel, kind: str, group_size: int) -> str:
    """What the choice depends on: the CPU (name and feature flags), torch, the thread count, the kind and the
    model's shape."""
    config = verifier.config.get_text_config()
    shape = (f"hidden {config.hidden_size} mlp {config.intermediate_size} layers {config.num_hidden_layers} "
             f"heads {config.num_attention_heads}/{config.num_key_value_heads} vocab {config.vocab_size}")
    return (f"{cpu_model()} [{cpu_flags_digest()}] | torch {torch.__version__} | threads {torch.get_num_threads()} "
            f"| {kind} groups {group_size} | {shape}")


def time_runner_step(runner: QuantizedLlamaRunner, steps: int = TIMED_STEPS) -> float:
    """Seconds per one-token decoding step of `runner`, from an empty cache (the runner is reset after)."""
    vocab = runner.embedding.shape[0]
    ids = (torch.arange(steps) * 7919) % vocab
    runner.reset()
    start = time.perf_counter()
    for step in range(steps):
        runner.forward(ids[step:step + 1])
    seconds = (time.perf_counter() - start) / steps
    runner.reset()
    return seconds


def choose_runner_matmul(verifier: PreTrainedModel, kind: str, group_size: int = GROUP_SIZE,
                         rounds: int = TIMED_ROUNDS, margin: float = MATMUL_MARGIN
                         ) -> tuple[QuantizedLlamaRunner, dict]:
    """The runner on the faster backend for this machine, and how it was chosen: ``{"matmul", "reason",
    "seconds_per_step"}``. A cached choice is reused without timing; otherwise both runners decode
    `TIMED_STEPS` tokens per round, `rounds` rounds in alternating order, and ``native`` must be faster than
    ``torch`` by `margin` (a fraction) in the medians."""
    problem = native_problem()
    if problem is None and kind == "int4" and group_size != 32:
        problem = f"the native int4 kernel takes groups of 32, not {group_size}"
    if problem is not None:
        return QuantizedLlamaRunner(verifier, kind, group_size), {"matmul": "torch", "reason": problem}
    key = runner_matmul_key(verifier, kind, group_size)
    cached = read_cache_entries(runner_matmul_file(), MATMUL_CACHE_VERSION).get(key)
    if isinstance(cached, dict) and cached.get("matmul") in MATMULS:
        runner = QuantizedLlamaRunner(verifier, kind, group_size, matmul=cached["matmul"])
        return runner, {**cached, "reason": "measured earlier on this machine (cached)"}
    runners = {name: QuantizedLlamaRunner(verifier, kind, group_size, matmul=name) for name in MATMULS}
    for runner in runners.values():
        time_runner_step(runner, 2)  # warm-up: first calls allocate
    seconds: dict[str, list[float]] = {name: [] for name in MATMULS}
    for round_index in range(rounds):
        for name in (MATMULS if round_index % 2 == 0 else MATMULS[::-1]):
            seconds[name].append(time_runner_step(runners[name]))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    chosen = "native" if medians["native"] < (1.0 - margin) * medians["torch"] else "torch"
    entry = {"matmul": chosen, "seconds_per_step": medians}
    add_cache_entry(runner_matmul_file(), MATMUL_CACHE_VERSION, key, entry)
    return runners[chosen], {**entry, "reason": "measured now"}


def forced_matmul() -> str | None:
    """The backend `MATMUL_ENV` names (None if unset), or one line naming a wrong value and its fix."""
    forced = os.environ.get(MATMUL_ENV, "").strip()
    if forced and forced not in MATMULS:
        raise ValueError(f"${MATMUL_ENV} must be one of {', '.join(MATMULS)}, got {forced!r}: unset it for auto")
    return forced or None


def build_runner(verifier: PreTrainedModel, kind: str, group_size: int = GROUP_SIZE,
                 matmul: str = "auto") -> QuantizedLlamaRunner:
    """The runner for `quantized_drafter`: on the given backend, or (``auto``) the one `MATMUL_ENV` names, else
    the measured faster one; the choice is kept as ``runner.matmul_choice``."""
    if matmul not in MATMUL_CHOICES:
        raise ValueError(f"matmul must be one of {', '.join(MATMUL_CHOICES)}, got {matmul!r}")
    forced = forced_matmul()
    if matmul == "auto" and forced:
        runner = QuantizedLlamaRunner(verifier, kind, group_size, matmul=forced)
        runner.matmul_choice = {"matmul": forced, "reason": f"${MATMUL_ENV}"}
        return runner
    if matmul == "auto":
        runner, choice = choose_runner_matmul(verifier, kind, group_size)
    else:
        runner, choice = QuantizedLlamaRunner(verifier, kind, group_size, matmul=matmul), {
            "matmul": matmul, "reason": "asked for"}
    runner.matmul_choice = choice
    return runner


# ---------------------------------------------------------------------------------------------- the copy
@torch.no_grad()
def quantized_drafter(verifier: PreTrainedModel, kind: str, group_size: int = GROUP_SIZE,
                      matmul: str = "auto") -> PreTrainedModel:
    """A weight-only quantized copy of `verifier` with a bfloat16 body: ``int4`` (int4 layers, int8 output head)
    or ``int8`` (int8 everywhere). The verifier is left untouched. A Llama-family copy decodes through a
    `QuantizedLlamaRunner` whose products run on `matmul` (``auto``, ``torch`` or ``native``; see
    ``ebsd_env.decoding.quantized.runner``)."""
    check_quantizable(verifier, kind, group_size)
    linears = model_linears(verifier)
    # Copy everything but the linear weights (replaced below), so no second float32 copy of them is made.
    memo = {id(linear.weight): linear.weight for *_, linear in linears}
    drafter = copy.deepcopy(verifier, memo)
    head = drafter.get_output_embeddings()
    for _, parent, name, linear in model_linears(drafter):
        if kind == "int4" and linear is not head:
            setattr(parent, name, Int4Linear(linear, group_size))
        else:
            setattr(parent, name, Int8Linear(linear))
    # The rest of the body in bfloat16, as new tensors: some are still shared with the verifier (the tied
    # embedding is the head's weight). Buffers (rotary frequencies) stay as they are: transformers computes
    # the rotary angles in float32 and casts them to the activations' dtype.
    for module in drafter.modules():
        for pname, param in list(module._parameters.items()):
            if param is not None and param.is_floating_point():
                module._parameters[pname] = nn.Parameter(param.detach().to(ACTIVATION_DTYPE), requires_grad=False)
    drafter.config.dtype = ACTIVATION_DTYPE
    # The fast decode path (a plain attribute: not a submodule, not in the state dict).
    drafter.runner = build_runner(verifier, kind, group_size, matmul) if runner_problem(verifier) is None else None
    drafter.quantized_kind = kind
    # Without a runner (a non-Llama verifier) the copy drafts through transformers' forward, as any causal LM.
    drafter.draft_strategy = "quantized" if drafter.runner is not None else "lm"
    return drafter.eval()
