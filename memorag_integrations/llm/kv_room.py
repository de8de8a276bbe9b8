"""A transformers KV cache that grows in place, into room reserved for the tokens a call adds.

transformers' ``DynamicCache`` grows by ``torch.cat``, which copies the whole cache at every
generated token. Over a memory of a few thousand tokens, on a CPU, that copy costs more than the
token's own compute, and a batch of sequences over one memory copies it once per row. The layers
here copy the cache once, into a buffer with room for the call's new tokens, write each token into
that room, and hand attention a view of the filled part: the same values in the same order, so the
same sums and the same greedy tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class RoomyLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values are views of a buffer with free room after them."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = max(1, room)
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        held, new = self.get_seq_length(), key_states.shape[-2]
        if not self._fits(key_states, held, new):
            if self._key_buffer is not None:
                self.room *= 2  # a call that outran its room gets more from now on
            self._reserve(key_states, value_states, held, held + new + self.room)
        assert self._key_buffer is not None and self._value_buffer is not None
        self._key_buffer[:, :, held:held + new] = key_states
        self._value_buffer[:, :, held:held + new] = value_states
        self.keys = self._key_buffer[:, :, :held + new]
        self.values = self._value_buffer[:, :, :held + new]
        return self.keys, self.values

    def _fits(self, key_states: torch.Tensor, held: int, new: int) -> bool:
        """Whether the buffer can take ``new`` more tokens: it exists, has their batch, has
        room, and still backs this layer's keys (a caller may have replaced them, e.g. by a
        batch selection)."""
        buffer = self._key_buffer
        if buffer is None or buffer.shape[0] != key_states.shape[0] or held + new > buffer.shape[2]:
            return False
        return held == 0 or (self.keys is not None and self.keys.data_ptr() == buffer.data_ptr())

    def _reserve(self, key_states: torch.Tensor, value_states: torch.Tensor, held: int, size: int) -> None:
        batch = key_states.shape[0]
        keys = key_states.new_empty((batch, key_states.shape[1], size, key_states.shape[3]))
        values = value_states.new_empty((batch, value_states.shape[1], size, value_states.shape[3]))
        if held:
            assert self.keys is not None and self.values is not None
            keys[:, :, :held] = self.keys  # a prefix the rows shared as views gets a copy per row
            values[:, :, :held] = self.values
        self._key_buffer, self._value_buffer = keys, values


def cache_with_room(config: Any, room: int, prefix: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
                    batch: int = 1) -> DynamicCache | None:
    """A ``DynamicCache`` for ``config``'s model whose layers grow in place, with ``room`` tokens
    reserved, optionally holding ``prefix`` (per layer keys and values of one row, shared by the
    ``batch`` rows until the first new token copies them once). None when the model has layers
    other than plain attention (sliding windows, linear attention): use a ``DynamicCache`` there."""
    cache = DynamicCache(config=config)
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None
    layers = [RoomyLayer(room) for _ in cache.layers]
    for layer, (keys, values) in zip(layers, prefix):
        layer.lazy_initialization(keys, values)
        layer.keys = keys.expand(batch, -1, -1, -1)
        layer.values = values.expand(batch, -1, -1, -1)
    cache.layers = list(layers)
    return cache


def concatenating_cache(config: Any, prefix: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
                        batch: int = 1) -> DynamicCache:
    """transformers' own ``DynamicCache`` holding ``prefix`` for ``batch`` rows (as views): what
    models that :func:`cache_with_room` cannot serve get, and what it is measured against."""
    return DynamicCache(ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                                        for k, v in prefix] or None, config=config)
