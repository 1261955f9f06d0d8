"""Grouped-KV attention for the verifier on the CPU: transformers' SDPA without repeating keys and values.

With a mask (every forward of more than one token over a cache: a prefill after a cache, a verification of k + 1
tokens), transformers' SDPA path on the CPU repeats each key/value head to the number of query heads before
calling torch (`repeat_kv`: 3 -> 9 heads for SmolLM2, the whole cache copied in every layer), since torch's
masked grouped attention is not fast on CUDA. torch's CPU kernel takes the heads grouped (``enable_gqa``) and
gives the same values to the bit (checked on the embedded verifier at 2, 5 and 9 tokens, and in
tests/test_kernels.py), in less time: 94.1 instead of 99.3 ms for 9 tokens in one measurement on a busy
2-core AMD EPYC (docs/benchmarks.md). `use_grouped_attention` switches a model to it; every other case goes to
transformers' own function unchanged.
"""

from __future__ import annotations

import torch
from transformers import AttentionInterface, PreTrainedModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

GROUPED_SDPA = "ebsd_grouped_sdpa"


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


AttentionInterface.register(GROUPED_SDPA, grouped_sdpa_attention)
AttentionMaskInterface.register(GROUPED_SDPA, sdpa_mask)  # the same masks as "sdpa"


def use_grouped_attention(model: PreTrainedModel) -> bool:
    """Switch `model` from transformers' SDPA attention to `grouped_sdpa_attention` where that changes anything
    (on the CPU, with grouped KV heads); True if it did."""
    config = model.config.get_text_config()
    heads, kv_heads = config.num_attention_heads, getattr(config, "num_key_value_heads", None)
    on_cpu = model.get_input_embeddings().weight.device.type == "cpu"
    if model.config._attn_implementation != "sdpa" or not on_cpu or not kv_heads or kv_heads == heads:
        return False
    model.set_attn_implementation(GROUPED_SDPA)
    return True
