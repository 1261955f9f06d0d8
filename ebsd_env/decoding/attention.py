"""The verifier's attention on the CPU: a few queries by our own C kernel, the rest by SDPA with grouped KV heads.

**Few queries** (`few_query_attention`, ``kernels/attention_avx2.c``): a forward of up to `MAX_QUERIES` new
tokens (a one-token decode, a verification of k + 1 tokens) attends by our AVX2 kernel, which computes every query
row the same way whatever the number of rows beside it (the C file says how). With linear layers that do the same
(the ``avx2-panels`` variant, `ebsd_env.decoding.kernels`), the verifier's keys, values and logits at a position are
then the same bits whether it was fed one token at a time or whole blocks: `pair.metadata["width_invariant"]`.
That is what makes replay of the int4 copy exact, since the copy drafts from the verifier's own cache (the
recorder feeds the verifier one token at a time, live decoding feeds blocks; docs/replay.md). torch's SDPA
kernels block their work by the number of queries and round rows differently at 5 and 17 queries than at one
(measured on a Xeon, docs/results/int4-own-cache-xeon/). The kernel needs AVX2, FMA and a C compiler
(`ebsd_env.decoding.kernels.native`); it takes batch 1, float32, head sizes a multiple of 8 up to 256, no
gradients, and a bool mask or none. Anything else, and a row that may attend to nothing, goes to the grouped
SDPA below.

**Grouped SDPA** (`grouped_sdpa_attention`): with a mask (every forward of more than one token over a cache),
transformers' SDPA path on the CPU repeats each key/value head to the number of query heads before calling torch
(`repeat_kv`: 3 -> 9 heads for SmolLM2, the whole cache copied in every layer), since torch's masked grouped
attention is not fast on CUDA. torch's CPU kernel takes the heads grouped (``enable_gqa``) and gives the same
values to the bit (checked on the embedded verifier at 2, 5 and 9 tokens, and in tests/test_kernels.py), in less
time: 94.1 instead of 99.3 ms for 9 tokens in one measurement on a busy 2-core AMD EPYC (docs/benchmarks.md).

`use_cpu_attention` switches a model to the first of these that can run; every case neither takes goes to
transformers' own function unchanged.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from transformers import AttentionInterface, PreTrainedModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from .kernels.native import FLOAT, INT, INT64, POINTER, load_native

GROUPED_SDPA = "ebsd_grouped_sdpa"
FEW_QUERY = "ebsd_few_query"
ATTENTION_LABELS = {FEW_QUERY: "few-query-avx2", GROUPED_SDPA: "grouped"}  # pair.metadata["verifier_attention"]
MAX_QUERIES = 64  # new tokens a forward may feed for the C kernel: more (a prefill) go to torch's SDPA
SOURCE = Path(__file__).with_name("kernels") / "attention_avx2.c"
# Return codes of few_query_attention (the C file): 1, a row that may attend to nothing, is left to torch.
_NO_VISIBLE_KEY, _BAD_SHAPE, _OUT_OF_MEMORY = 1, 2, 3


def grouped_sdpa_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                           is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """transformers' `sdpa_attention_forward`, but a masked call on the CPU with grouped KV heads passes them to
    torch grouped instead of repeated (what that function does there with a mask and no position bias)."""
    grouped = getattr(module, "num_key_value_groups", 1) > 1
    if (attention_mask is None or not grouped or query.device.type != "cpu" or kwargs.get("softcap") is not None
            or kwargs.get("position_bias") is not None or kwargs.get("output_attentions")):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    output = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                              dropout_p=dropout, scale=scaling, is_causal=False,
                                                              enable_gqa=True)
    return output.transpose(1, 2).contiguous(), None


def _load():
    return load_native(SOURCE, "the few-query attention kernel", (("few_query_attention", (
        POINTER, INT, INT, INT, INT64, INT64, POINTER, POINTER, INT, INT, INT64, INT64, INT64, INT64, POINTER, INT64,
        FLOAT, POINTER, INT)),))


@functools.cache
def _function():
    """The C function, or None where it cannot run (looked up once: it runs in every layer of every forward)."""
    library = _load()
    return None if isinstance(library, str) else library.few_query_attention


def few_query_problem() -> str | None:
    """Why the few-query kernel cannot run here (None if it can); builds it on first use."""
    library = _load()
    return library if isinstance(library, str) else None


_UNSUPPORTED_KWARGS = ("softcap", "position_bias", "sliding_window", "s_aux", "output_attentions")


def _few_query(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               mask: torch.Tensor | None, dropout: float, scaling: float | None, is_causal: bool | None,
               kwargs: dict) -> torch.Tensor | None:
    """The attention output [1, queries, heads, head size] by the C kernel, or None where it does not apply."""
    function = _function()
    batch, heads, m, d = query.shape
    kv_heads, t = key.shape[1], key.shape[2]
    if (function is None or batch != 1 or dropout or m > MAX_QUERIES or m > t or d % 8 or d > 256
            or heads % kv_heads or getattr(module, "sliding_window", None) is not None
            or any(kwargs.get(name) for name in _UNSUPPORTED_KWARGS)
            or not all(x.dtype is torch.float32 and x.is_cpu and x.stride(-1) == 1 for x in (query, key, value))
            or (torch.is_grad_enabled() and (query.requires_grad or key.requires_grad or value.requires_grad))):
        return None
    if mask is None:
        if m > 1 and (m != t or is_causal is False or not getattr(module, "is_causal", True)):
            return None  # without a mask, several queries attend causally only over a cache of their own
        mask_pointer, mask_row = None, 0
    else:
        if mask.dtype is not torch.bool or mask.dim() != 4 or mask.shape[:2] != (1, 1) or mask.shape[-2:] != (m, t) \
                or mask.stride(-1) != 1:
            return None
        mask_pointer, mask_row = mask.data_ptr(), mask.stride(-2)
    out = torch.empty(1, m, heads, d, dtype=torch.float32)
    code = function(query.data_ptr(), m, heads, d, query.stride(1), query.stride(2), key.data_ptr(), value.data_ptr(),
                    kv_heads, t, key.stride(1), key.stride(2), value.stride(1), value.stride(2), mask_pointer,
                    mask_row, d ** -0.5 if scaling is None else scaling, out.data_ptr(), torch.get_num_threads())
    return _kernel_result(code, out, t, query, key)


def _kernel_result(code: int, out: torch.Tensor, keys: int, query: torch.Tensor,
                   key: torch.Tensor) -> torch.Tensor | None:
    """`out` once the C kernel returned `code`: None where a row sees no key (torch then computes the call), an
    error for no memory or a refused shape."""
    if code == _NO_VISIBLE_KEY:
        return None
    if code == _OUT_OF_MEMORY:
        raise MemoryError(f"few-query attention: no memory for {keys} scores")
    if code:
        raise RuntimeError(f"few-query attention refused query {tuple(query.shape)}, keys {tuple(key.shape)}")
    return out


def attend_cache(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, length: int,
                 mask: torch.Tensor | None, scale: float) -> torch.Tensor | None:
    """Attention of `query` ([heads, m, d] float32, unit stride on d) over the first `length` positions of a
    float32 KV cache (`keys`, `values`: [kv_heads, capacity, d], unit stride on d) by the C kernel, as
    [m, heads, d] float32; None where the kernel does not apply (it cannot run here, more than `MAX_QUERIES`
    rows, a head size it does not take, a row that sees no key). `mask`: None (every row sees every position)
    or [m, length] bools with unit stride on the last dimension. The int4 copy's runner attends with it
    (``quantized/runner.py``): the same kernel as the verifier's, so each row's bits do not depend on the rows
    beside it."""
    function = _function()
    heads, m, d = query.shape
    kv_heads = keys.shape[0]
    if (function is None or m > MAX_QUERIES or m > length or d % 8 or d > 256 or heads % kv_heads
            or not all(x.dtype is torch.float32 and x.stride(-1) == 1 for x in (query, keys, values))):
        return None
    if mask is not None and (mask.dtype is not torch.bool or tuple(mask.shape) != (m, length) or mask.stride(-1) != 1):
        raise ValueError(f"attend_cache takes a [{m}, {length}] bool mask, got {mask.dtype} {tuple(mask.shape)}")
    out = torch.empty(m, heads, d, dtype=torch.float32)
    code = function(query.data_ptr(), m, heads, d, query.stride(0), query.stride(1), keys.data_ptr(),
                    values.data_ptr(), kv_heads, length, keys.stride(0), keys.stride(1), values.stride(0),
                    values.stride(1), None if mask is None else mask.data_ptr(), 0 if mask is None else mask.stride(0),
                    scale, out.data_ptr(), torch.get_num_threads())
    return _kernel_result(code, out, length, query, keys)


def few_query_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                        is_causal: bool | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """Attention of a few queries by ``attention_avx2.c``, every row the same bits whatever the rows beside it;
    `grouped_sdpa_attention` where it does not apply (see the module's docstring)."""
    out = _few_query(module, query, key, value, attention_mask, dropout, scaling, is_causal, kwargs)
    if out is not None:
        return out, None
    return grouped_sdpa_attention(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                  is_causal=is_causal, **kwargs)


for _name, _function_of in ((GROUPED_SDPA, grouped_sdpa_attention), (FEW_QUERY, few_query_attention)):
    AttentionInterface.register(_name, _function_of)
    AttentionMaskInterface.register(_name, sdpa_mask)  # the same masks as "sdpa"


def use_cpu_attention(model: PreTrainedModel, few_query: bool = True) -> str:
    """Switch `model` from transformers' SDPA attention to `few_query_attention` (if `few_query` and the kernel
    can run here) or `grouped_sdpa_attention` (with grouped KV heads), where that changes anything: on the CPU,
    from SDPA. Returns the attention the model runs with: "few-query-avx2", "grouped" or "transformers"."""
    config = model.config.get_text_config()
    heads, kv_heads = config.num_attention_heads, getattr(config, "num_key_value_heads", None)
    on_cpu = model.get_input_embeddings().weight.device.type == "cpu"
    current = model.config._attn_implementation
    if current in ATTENTION_LABELS:
        return ATTENTION_LABELS[current]
    if current != "sdpa" or not on_cpu:
        return "transformers"
    if few_query and few_query_problem() is None:
        model.set_attn_implementation(FEW_QUERY)
    elif kv_heads and kv_heads != heads:
        model.set_attn_implementation(GROUPED_SDPA)
    return ATTENTION_LABELS.get(model.config._attn_implementation, "transformers")
