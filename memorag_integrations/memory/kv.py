"""Memory of kind ``kv``: the KV cache of the whole corpus (or of its gists) in a local model."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from memorag_integrations.defaults import GIST_CHUNK_TOKENS, GIST_TOKENS, MAX_MEMORY_TOKENS
from memorag_integrations.llm.transformers import KVPrefix, TransformersGenerator
from memorag_integrations.memory.base import Memory


class KVMemory(Memory):
    """The model reads the corpus once; its KV cache is the memory, shared read-only by queries.

    A corpus longer than ``max_memory_tokens`` is first compressed into gists (see
    :class:`~memorag_integrations.memory.gist.Compressor`), which are then read the same way.
    """

    kind = "kv"

    def __init__(
        self,
        model: TransformersGenerator | str | os.PathLike | None = None,
        *,
        max_memory_tokens: int = MAX_MEMORY_TOKENS,
        gist_chunk_tokens: int = GIST_CHUNK_TOKENS,
        gist_tokens: int = GIST_TOKENS,
        batch_size: int | None = None,
        gisting: str = "auto",
    ) -> None:
        generator = model if isinstance(model, TransformersGenerator) else TransformersGenerator(model)
        # Gisting batch: by free GPU memory, 4 on a CPU (see TransformersGenerator.suggest_batch_size).
        batch_size = batch_size or generator.suggest_batch_size(gist_chunk_tokens + gist_tokens)
        super().__init__(generator, max_memory_tokens=max_memory_tokens, gist_chunk_tokens=gist_chunk_tokens,
                         gist_tokens=gist_tokens, batch_size=batch_size, gisting=gisting)
        self.lm: TransformersGenerator = generator
        self._prefix: KVPrefix | None = None
        self._prefix_text = ""
        self._prefix_lock = threading.Lock()

    @property
    def prefix_tokens(self) -> int:
        """Tokens of the memory prompt the KV cache holds, or will hold once read (0 before memorizing)."""
        if self._prefix is not None:
            return self._prefix.length
        return int(self.lm.encode(self._prefix_text).shape[1]) if self.is_ready else 0

    def _read(self) -> None:
        self._prefix_text = self._prefix_prompt(self.lm.render)
        self._prefix = self.lm.prefill(self._prefix_text)

    def _suffix(self, instruction: str) -> str:
        return self._instruction_suffix(self.lm.render, self._prefix_text, instruction)

    def _ready_prefix(self) -> KVPrefix:
        self._require_ready()
        with self._prefix_lock:
            if self._prefix is None:  # loaded without its cache: the context is read at its first use
                self._read()
        assert self._prefix is not None
        return self._prefix

    def generate(self, instruction: str, max_new_tokens: int = 256) -> str:
        return self.lm.generate_from_prefix(self._ready_prefix(), self._suffix(instruction), max_new_tokens)

    def stream(self, instruction: str, max_new_tokens: int = 256) -> Iterator[str]:
        yield from self.lm.stream_from_prefix(self._ready_prefix(), self._suffix(instruction), max_new_tokens)

    def generate_many(self, calls: Sequence[tuple[str, int]]) -> list[str]:
        """The calls as one batch after the one memory prefix, decoded together."""
        if len(calls) < 2:
            return super().generate_many(calls)
        return self.lm.generate_many_from_prefix(self._ready_prefix(), [self._suffix(i) for i, _ in calls],
                                                 [n for _, n in calls])

    def continuation_logprobs(self, instructions: Sequence[str], continuation: str) -> list[float]:
        return self.lm.continuation_logprobs_from_prefix(self._ready_prefix(), [self._suffix(i) for i in instructions],
                                                         continuation)

    def _cache_state(self, meta: dict[str, Any]) -> dict[str, Any]:
        prefix = self._ready_prefix()
        tensors = {"input_ids": prefix.input_ids.cpu()}
        for i, (k, v) in enumerate(zip(prefix.keys, prefix.values)):
            tensors[f"keys.{i}"] = k.cpu().contiguous()
            tensors[f"values.{i}"] = v.cpu().contiguous()
        return tensors

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        """Restore a saved cache, checked against this model first (token ids, layers, shapes), so a
        cache that does not fit fails here and not at the first query."""
        super().load_state(tensors, meta)
        self._prefix, self._prefix_text = None, self._prefix_prompt(self.lm.render)
        if "input_ids" not in tensors:  # saved without the cache: read again when first asked
            return
        ids = tensors["input_ids"]
        expected = self.lm.encode(self._prefix_text).cpu()
        if ids.dtype != expected.dtype or ids.shape != expected.shape or not bool((ids == expected).all()):
            raise ValueError(f"the saved token ids ({tuple(ids.shape)}) are not this model's reading of the saved "
                             f"context ({tuple(expected.shape)})")
        layers, heads, head_dim = self.lm.kv_shape()
        shape = (1, heads, ids.shape[1], head_dim)
        names = {"input_ids", *(f"{kind}.{i}" for kind in ("keys", "values") for i in range(layers))}
        if set(tensors) != names:
            raise ValueError(f"the saved cache has {len(tensors) - 1} key/value tensors, this model {2 * layers}")
        bad = [n for n in sorted(names - {"input_ids"})
               if tuple(tensors[n].shape) != shape or not tensors[n].is_floating_point()]
        if bad:
            raise ValueError(f"the saved cache tensor {bad[0]} is {tuple(tensors[bad[0]].shape)} "
                             f"{tensors[bad[0]].dtype}, this model needs floats of shape {shape}")
        device, dtype = self.lm.device, self.lm.model.dtype
        self._prefix = KVPrefix(
            ids.to(device),
            tuple(tensors[f"keys.{i}"].to(device, dtype) for i in range(layers)),
            tuple(tensors[f"values.{i}"].to(device, dtype) for i in range(layers)),
        )


BACKENDS = ("transformers", "llamacpp", "auto")


def select_backend(model: str | os.PathLike | None, backend: str = "transformers") -> str:
    """``"transformers"`` or ``"llamacpp"`` for ``model``.

    ``"auto"`` takes llama.cpp for GGUF models (a ``.gguf`` file or the embedded default) when
    llama-cpp-python is installed, transformers otherwise. The default stays transformers, which
    needs no compiler; llama.cpp is an opt-in (``backend="llamacpp"`` or ``"auto"``).
    """
    from memorag_integrations.errors import InvalidInputError
    from memorag_integrations.llm.llamacpp import llamacpp_available
    from memorag_integrations.models import DEFAULT_LM

    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    is_gguf = model is None or str(model) == DEFAULT_LM or str(model).endswith(".gguf")
    return "llamacpp" if is_gguf and llamacpp_available() else "transformers"


def kv_memory(model: str | os.PathLike | None = None, *, backend: str = "transformers", **options: Any) -> Memory:
    """A memory of kind ``kv`` on the chosen backend (see :func:`select_backend`).

    ``options`` go to :class:`KVMemory` or :class:`~memorag_integrations.memory.llamacpp.LlamaCppKVMemory`.
    """
    if select_backend(model, backend) == "llamacpp":
        from memorag_integrations.memory.llamacpp import LlamaCppKVMemory

        return LlamaCppKVMemory(model, **options)
    return KVMemory(model, **options)
