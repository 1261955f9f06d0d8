"""The verifier's attention on the CPU (`ebsd_env.decoding.attention`): the few-query C kernel against the exact
attention, every query row the same bits whatever the rows beside it, where it hands over to torch, and a
verifier that gives the same bits whatever the width of its forwards (avx2-panels linears + this attention)."""

from __future__ import annotations

import types

import pytest
import torch

from ebsd_env.decoding.attention import (
    FEW_QUERY,
    MAX_QUERIES,
    _few_query,
    few_query_attention,
    few_query_problem,
    use_cpu_attention,
)

PROBLEM = few_query_problem()
needs_kernel = pytest.mark.skipif(PROBLEM is not None, reason=f"the few-query kernel cannot run here: {PROBLEM}")
CAUSAL = types.SimpleNamespace(is_causal=True)  # what the kernel reads of the attention module


def _cache(kv_heads: int, t: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values as `GrowingCache` hands them over: views of the first t positions of longer buffers."""
    generator = torch.Generator().manual_seed(seed)
    keys, values = (torch.randn(1, kv_heads, t + 37, d, generator=generator) for _ in range(2))
    return keys[:, :, :t], values[:, :, :t]


def _queries(heads: int, m: int, d: int, seed: int) -> torch.Tensor:
    """[1, heads, m, d] with transformers' strides (a view of [1, m, heads, d])."""
    return torch.randn(1, m, heads, d, generator=torch.Generator().manual_seed(seed)).transpose(1, 2)


def _causal_mask(m: int, t: int) -> torch.Tensor:
    return torch.ones(m, t, dtype=torch.bool).tril(t - m)[None, None]


def _exact(query, keys, values, mask) -> torch.Tensor:
    """Attention in float64, [1, m, heads, d]."""
    group = query.shape[1] // keys.shape[1]
    k, v = (x.double().repeat_interleave(group, dim=1) for x in (keys, values))
    scores = query.double() @ k.transpose(-1, -2) * query.shape[-1] ** -0.5
    scores = scores.masked_fill(~mask, float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2)


@needs_kernel
@pytest.mark.parametrize(("heads", "kv_heads", "d", "t"), [(9, 3, 64, 203), (4, 4, 16, 20), (6, 2, 8, 1000)])
@pytest.mark.parametrize("m", [1, 2, 5, 9, 17])
def test_few_query_attention_is_exact_and_every_row_is_the_same_alone(heads, kv_heads, d, t, m):
    """Within float32 rounding of the exact attention (a lost key, a wrong head or an off-by-one in the causal
    rule moves an output by ~1/t, hundreds of times the bound); and each row to the bit what the same query
    computes alone over its own prefix of the cache, as a one-token decode does."""
    if m > t:
        pytest.skip("more queries than keys")
    keys, values = _cache(kv_heads, t, d, seed=m)
    query, mask = _queries(heads, m, d, seed=m + 1), _causal_mask(m, t)
    with torch.inference_mode():
        got = _few_query(CAUSAL, query, keys, values, mask if m > 1 else None, 0.0, None, None, {})
        assert got is not None and got.shape == (1, m, heads, d)
        assert torch.allclose(got.double(), _exact(query, keys, values, mask), rtol=0, atol=2e-6)
        for i in range(m):
            end = t - m + 1 + i
            alone = _few_query(CAUSAL, query[:, :, i:i + 1], keys[:, :, :end], values[:, :, :end], None, 0.0, None,
                               None, {})
            assert torch.equal(alone[0, 0], got[0, i]), (i, (alone[0, 0] - got[0, i]).abs().max())


@needs_kernel
def test_few_query_attention_follows_any_bool_mask_and_threads_give_the_same_bits():
    """A mask with holes is followed (checked against the exact attention); one and two threads agree to the bit;
    a prefix without a mask equals the causal mask's result to the bit (m == t: a fresh cache)."""
    keys, values = _cache(3, 40, 16, seed=1)
    query = _queries(6, 4, 16, seed=2)
    mask = torch.rand(1, 1, 4, 40, generator=torch.Generator().manual_seed(3)) < 0.5
    mask[..., 0] = True
    threads = torch.get_num_threads()
    try:
        results = []
        for count in (1, 2):
            torch.set_num_threads(count)
            with torch.inference_mode():
                results.append(_few_query(CAUSAL, query, keys, values, mask, 0.0, None, None, {}))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0], results[1])
    assert torch.allclose(results[0].double(), _exact(query, keys, values, mask), rtol=0, atol=2e-6)
    fresh_keys, fresh_values = keys[:, :, :4], values[:, :, :4]
    with torch.inference_mode():
        unmasked = _few_query(CAUSAL, query, fresh_keys, fresh_values, None, 0.0, None, None, {})
        masked = _few_query(CAUSAL, query, fresh_keys, fresh_values, _causal_mask(4, 4), 0.0, None, None, {})
    assert torch.equal(unmasked, masked)


@needs_kernel
def test_few_query_attention_hands_over_to_torch_where_it_does_not_apply():
    """Each case the kernel does not take returns None from `_few_query`, and `few_query_attention` gives torch's
    result: gradients, a float mask, a batch, too many queries, no mask over another cache, a row that may attend
    to nothing."""
    keys, values = _cache(2, 70, 8, seed=4)
    query, mask = _queries(4, 3, 8, seed=5), _causal_mask(3, 70)
    assert _few_query(CAUSAL, query, keys, values, mask, 0.0, None, None, {}) is not None
    float_mask = torch.zeros(1, 1, 3, 70).masked_fill(~mask, float("-inf"))
    empty_row = mask.clone()
    empty_row[0, 0, 1] = False
    wide = _queries(4, MAX_QUERIES + 1, 8, seed=6)
    cases = {
        "gradients": (query.clone().requires_grad_(), keys, values, mask),
        "float mask": (query, keys, values, float_mask),
        "batch of 2": (query.expand(2, -1, -1, -1), keys.expand(2, -1, -1, -1), values.expand(2, -1, -1, -1),
                       mask.expand(2, -1, -1, -1)),
        "too many queries": (wide, keys, values, _causal_mask(MAX_QUERIES + 1, 70)),
        "no mask over a longer cache": (query, keys, values, None),
        "a row with no key": (query, keys, values, empty_row),
    }
    for name, (q, k, v, m) in cases.items():
        with torch.inference_mode(name != "gradients"):
            assert _few_query(CAUSAL, q, k, v, m, 0.0, None, None, {}) is None, name
    module = types.SimpleNamespace(is_causal=True, num_key_value_groups=2)  # read by torch's path
    with torch.inference_mode():
        handed_over = few_query_attention(module, query, keys, values, float_mask)[0]
        torch_result = torch.nn.functional.scaled_dot_product_attention(query, keys, values, attn_mask=float_mask,
                                                                        enable_gqa=True).transpose(1, 2)
    assert torch.equal(handed_over, torch_result)


@needs_kernel
def test_a_verifier_with_row_invariant_kernels_gives_the_same_bits_at_every_width():
    """The tiny verifier with avx2-panels linears and the few-query attention: logits and KV cache after feeding
    tokens in blocks of 1 to 9 equal, to the bit, those of feeding them one at a time (what makes replay of a
    drafter that reads the verifier's cache exact). Both runs start with the same 12-token prefill."""
    from ebsd_env.decoding.kernels import select_kernels
    from ebsd_env.decoding.kernels.panels import panels_problem
    from ebsd_env.decoding.kv_cache import new_kv_cache
    from ebsd_env.decoding.tiny import tiny_model

    if panels_problem() is not None:
        pytest.skip(f"avx2-panels cannot run here: {panels_problem()}")
    model = tiny_model(60, seed=11, layers=3, hidden=64)
    select_kernels(model, "avx2-panels")
    assert use_cpu_attention(model) == "few-query-avx2" and model.config._attn_implementation == FEW_QUERY
    ids = torch.randint(0, 60, (1, 60), generator=torch.Generator().manual_seed(12))

    def run(widths: list[int]) -> tuple[list[torch.Tensor], object]:
        cache, logits, start = new_kv_cache("cpu"), [], 0
        with torch.inference_mode():
            for width in widths:
                out = model(input_ids=ids[:, start:start + width], cache=cache, use_cache=True).logits
                logits.extend(out[0, i] for i in range(width))
                start += width
        return logits, cache

    one_by_one, cache_one = run([12] + [1] * 48)
    blocks, cache_blocks = run([12, 2, 5, 9, 1, 3, 4, 8, 7, 9])
    assert len(one_by_one) == len(blocks) == 60
    for position, (a, b) in enumerate(zip(one_by_one, blocks, strict=True)):
        assert torch.equal(a, b), position
    for layer_one, layer_blocks in zip(cache_one.layers, cache_blocks.layers, strict=True):
        assert torch.equal(layer_one.keys, layer_blocks.keys) and torch.equal(layer_one.values, layer_blocks.values)


def test_the_kernel_builds_wherever_it_can():
    """The tests above skip where the kernel cannot run: on an x86-64 CPU with AVX2 and FMA and a C compiler it
    must build, so that a source that no longer compiles fails here instead of skipping them."""
    import platform

    from ebsd_env.decoding.kernels.native import REQUIRED_CPU_FLAGS, compiler
    from ebsd_env.machine import cpu_flags

    can_run = (platform.machine().lower() in ("x86_64", "amd64") and compiler() is not None
               and all(flag in (cpu_flags() or set()) for flag in REQUIRED_CPU_FLAGS))
    assert (PROBLEM is None) == can_run, PROBLEM
