"""A transformers KV cache that keeps its keys and values in buffers it grows, instead of new tensors per forward.

transformers' `DynamicCache` appends a forward's keys and values with `torch.cat`: every forward of every layer
allocates and fills a new tensor of the whole context (about 9 MB a verifier step for the embedded verifier at
200 tokens, 70 MB at 1,500). On a CPU that copy and allocation is a measurable share of a forward that reads its
weights in tens of milliseconds (docs/benchmarks.md, "The verifier's KV cache"). `GrowingCache` writes each forward's
keys and values into a buffer that holds room for more, and hands the model views of the filled part, as
`QuantizedLlamaRunner` does for the int4 copy. Rolling back (`crop`) moves the end of the view; the buffer grows
by half again when full.

The model sees the same numbers as with `DynamicCache`, only with other strides: the embedded verifier's logits
are equal to the bit through prefill, blocks and crops (`tests/test_kv_cache.py`). Everything that reads
``cache.layers[i].keys`` (the int4 copy taking the verifier's cache) reads the same values.
"""
from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

MIN_CAPACITY = 256  # positions allocated at the first forward at the least (a short prompt then grows in place)


class GrowingLayer(DynamicLayer):
    """A `DynamicLayer` whose ``keys``/``values`` are views ``[..., :length, :]`` of buffers with spare room."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self._key_buffer = self._value_buffer = None
        self._length = 0

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args,
               **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start = self._length
        stop = start + key_states.shape[-2]
        if self._key_buffer is None or stop > self._key_buffer.shape[-2]:
            self._grow(key_states, value_states, max(MIN_CAPACITY, stop + stop // 2))
        self._key_buffer[..., start:stop, :] = key_states
        self._value_buffer[..., start:stop, :] = value_states
        self._set_length(stop)
        return self.keys, self.values

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, capacity: int) -> None:
        keys = key_states.new_empty((*key_states.shape[:-2], capacity, key_states.shape[-1]))
        values = value_states.new_empty((*value_states.shape[:-2], capacity, value_states.shape[-1]))
        if self._length:
            keys[..., :self._length, :] = self.keys
            values[..., :self._length, :] = self.values
        self._key_buffer, self._value_buffer = keys, values

    def _set_length(self, length: int) -> None:
        self._length = length
        self.keys = self._key_buffer[..., :length, :]
        self.values = self._value_buffer[..., :length, :]

    def crop(self, tokens_to_remove: int) -> None:
        super().crop(tokens_to_remove)  # the same checks and meaning (a negative count), on the views
        if self.is_initialized and self._key_buffer is not None:
            self._set_length(self.keys.shape[-2])

    def reset(self) -> None:
        super().reset()
        self._key_buffer = self._value_buffer = None
        self._length = 0


class GrowingCache(DynamicCache):
    """`DynamicCache` with `GrowingLayer` layers, created lazily per layer as `DynamicCache()` does."""

    def __init__(self) -> None:
        super().__init__()
        self.layer_class_to_replicate = GrowingLayer


def new_kv_cache(device: torch.device | str) -> DynamicCache:
    """The cache the decoder gives a model on `device`: `GrowingCache` on the CPU (where the copy is measured to
    cost), transformers' `DynamicCache` elsewhere (on an accelerator the views' strides could change which
    attention kernel runs, and the copy was not measured to matter there)."""
    return GrowingCache() if torch.device(device).type == "cpu" else DynamicCache()
