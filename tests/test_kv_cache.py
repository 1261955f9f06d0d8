"""GrowingCache: the decoder's KV cache on the CPU gives the model the numbers DynamicCache would, to the bit."""
from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from ebsd_env.decoding.drafting import rollback_cache
from ebsd_env.decoding.kv_cache import MIN_CAPACITY, GrowingCache, new_kv_cache
from ebsd_env.decoding.tiny import tiny_model


def _script(model, cache, prompt: int, seed: int = 0) -> list[torch.Tensor]:
    """Prefill, then single tokens, blocks and rollbacks (as decoding does), through capacity growth; the logits
    of every forward."""
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (1, prompt), generator=generator)
    outputs = []
    with torch.inference_mode():
        outputs.append(model(input_ids=ids, cache=cache, use_cache=True).logits)
        length = prompt
        for step in range(24):
            width = (1, 1, 5, 1, 9, 2)[step % 6]
            block = torch.randint(0, vocab, (1, width), generator=generator)
            outputs.append(model(input_ids=block, cache=cache, use_cache=True, logits_to_keep=width).logits)
            length += width
            if width > 1:  # a rejected draft: keep one of the block
                length -= width - 1
                rollback_cache(cache, length)
            assert cache.get_seq_length() == length
    return outputs


@pytest.mark.parametrize("prompt", [3, MIN_CAPACITY - 2, MIN_CAPACITY + 40])
def test_growing_cache_gives_dynamic_cache_logits_to_the_bit(prompt):
    model = tiny_model(50, seed=3, layers=2, hidden=64)
    reference = _script(model, DynamicCache(), prompt)
    growing = GrowingCache()
    outputs = _script(model, growing, prompt)
    assert all(torch.equal(a, b) for a, b in zip(reference, outputs, strict=True))
    layer, buffers = growing.layers[0], set()
    with torch.inference_mode():  # 40 tokens more, one by one: written into spare room, rarely a new tensor
        for token in range(40):
            model(input_ids=torch.tensor([[token]]), cache=growing, use_cache=True)
            buffers.add(layer._key_buffer.data_ptr())
            assert layer.keys.data_ptr() == layer._key_buffer.data_ptr()  # a view of the buffer
    assert len(buffers) <= 2


def test_growing_cache_keeps_the_committed_values_when_it_grows_and_after_crops():
    model = tiny_model(50, seed=4, layers=1, hidden=64)
    cache, reference = GrowingCache(), DynamicCache()
    ids = torch.randint(0, 50, (1, MIN_CAPACITY + 10), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        for start, stop in ((0, 100), (100, MIN_CAPACITY - 1), (MIN_CAPACITY - 1, MIN_CAPACITY + 10)):  # grows
            for c in (cache, reference):
                model(input_ids=ids[:, start:stop], cache=c, use_cache=True)
        assert cache.layers[0]._key_buffer.shape[-2] >= MIN_CAPACITY + 10
        for c in (cache, reference):
            c.crop(-7)
        assert torch.equal(cache.layers[0].keys, reference.layers[0].keys)
        assert torch.equal(cache.layers[0].values, reference.layers[0].values)
        with pytest.raises(ValueError, match="positive"):  # the same checks as DynamicCache's crop
            cache.crop(3)
        cache.reset()
        assert cache.get_seq_length() == 0
        model(input_ids=ids[:, :5], cache=cache, use_cache=True)
        assert cache.get_seq_length() == 5


def test_new_kv_cache_is_growing_on_the_cpu_only():
    assert type(new_kv_cache("cpu")) is GrowingCache
    assert type(new_kv_cache(torch.device("meta"))) is DynamicCache


@pytest.mark.slow
def test_embedded_verifier_logits_equal_with_either_cache(embedded_pair):
    """The embedded verifier as `load_pair` runs it (its measured kernels, grouped attention with a mask)."""
    verifier = embedded_pair.verifier
    for prompt in (40, 300):
        reference = _script(verifier, DynamicCache(), prompt, seed=prompt)
        outputs = _script(verifier, GrowingCache(), prompt, seed=prompt)
        assert all(torch.equal(a, b) for a, b in zip(reference, outputs, strict=True))
