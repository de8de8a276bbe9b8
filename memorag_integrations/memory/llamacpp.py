"""Memory of kind ``kv`` on llama.cpp: the KV cache of the corpus (or of its gists) in a GGUF model.

The memory prompt is read once. Each query keeps those cache positions, reads only its own
instruction after them and generates; nothing a query does touches the prefix, so queries are
independent of each other and of their order. When the shared context was used for something else
in between (the final answer, another memory), the prefix is copied back from its saved bytes,
not read again. The saved state is those KV bytes (llama.cpp's per-sequence state) and the token
ids, as uint8/int32 tensors in safetensors; not the logits buffer, and no pickle.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from memorag_integrations.defaults import GIST_CHUNK_TOKENS, GIST_TOKENS, MAX_MEMORY_TOKENS
from memorag_integrations.errors import IncompatibleStoreError
from memorag_integrations.llm.llamacpp import LlamaCppGenerator
from memorag_integrations.memory.base import Memory

logger = logging.getLogger(__name__)


class LlamaCppKVMemory(Memory):
    """The GGUF model reads the corpus once; queries continue from its KV cache without changing it.

    ``model``: a :class:`LlamaCppGenerator`, or what it takes (None for the embedded model, or a
    ``.gguf`` file) with ``generator_options``. A corpus over ``max_memory_tokens`` is gisted first,
    as in :class:`~memorag_integrations.memory.kv.KVMemory`. Calls are serialized by the
    generator's lock: a llama.cpp context is not thread-safe, and this memory shares it.
    """

    kind = "kv"
    backend = "llamacpp"

    def __init__(self, model: LlamaCppGenerator | str | os.PathLike | None = None, *,
                 max_memory_tokens: int = MAX_MEMORY_TOKENS, gist_chunk_tokens: int = GIST_CHUNK_TOKENS,
                 gist_tokens: int = GIST_TOKENS, batch_size: int = 1, gisting: str = "auto",
                 **generator_options: Any) -> None:
        generator = model if isinstance(model, LlamaCppGenerator) else LlamaCppGenerator(model, **generator_options)
        # batch_size 1: sections are gisted one at a time. Read side by side in the one shared cache,
        # each section's prompt attends over every other's cells too, which cost more than decoding
        # them together saved (0.83x, benchmarks/results/speed-dev-quick.md).
        super().__init__(generator, max_memory_tokens=max_memory_tokens, gist_chunk_tokens=gist_chunk_tokens,
                         gist_tokens=gist_tokens, batch_size=batch_size, gisting=gisting)
        self.lm: LlamaCppGenerator = generator
        self._tokens: np.ndarray | None = None  # int32 token ids of the memory prompt
        self._kv = b""  # llama.cpp's state of sequence 0 after reading them
        self._prefix_text = ""

    @property
    def is_ready(self) -> bool:
        return self._tokens is not None

    @property
    def prefix_tokens(self) -> int:
        """Tokens of the memory prompt held in the KV cache (0 before memorizing)."""
        return len(self._tokens) if self._tokens is not None else 0

    def config(self) -> dict[str, Any]:
        return {**super().config(), "backend": self.backend}

    def _read(self) -> None:
        self._prefix_text = self._prefix_prompt(self.lm.render)
        tokens = self.lm.tokenize(self._prefix_text)
        with self.lm.lock:
            self._kv = self.lm.read_prefix(tokens, owner=self)
        self._tokens = np.asarray(tokens, dtype=np.int32)

    def _suffix_tokens(self, instruction: str) -> list[int]:
        return self.lm.tokenize(self._instruction_suffix(self.lm.render, self._prefix_text, instruction))

    def _answer(self, suffix: list[int], max_new_tokens: int) -> Iterator[str]:
        """The answer after the prefix (the caller holds the lock)."""
        assert self._tokens is not None
        self.lm.restore_prefix(self, self._tokens, self._kv)
        yield from self.lm.continue_from(len(self._tokens), suffix, max_new_tokens)

    def generate(self, instruction: str, max_new_tokens: int = 256) -> str:
        self._require_ready()
        suffix = self._suffix_tokens(instruction)
        with self.lm.lock:
            return "".join(self._answer(suffix, max_new_tokens)).strip()

    def stream(self, instruction: str, max_new_tokens: int = 256) -> Iterator[str]:
        self._require_ready()
        suffix = self._suffix_tokens(instruction)
        return self.lm.locked_stream(lambda: self._answer(suffix, max_new_tokens))

    def generate_many(self, calls: Sequence[tuple[str, int]]) -> list[str]:
        """The calls as parallel sequences after the one memory prefix, decoded together."""
        self._require_ready()
        if len(calls) < 2 or self.lm.sequences < 2:
            return super().generate_many(calls)
        assert self._tokens is not None
        suffixes = [self._suffix_tokens(instruction) for instruction, _ in calls]
        with self.lm.lock:
            self.lm.restore_prefix(self, self._tokens, self._kv)
            return self.lm.continue_parallel(len(self._tokens), suffixes, [n for _, n in calls])

    # -- saving --------------------------------------------------------------------------------
    def _cache_state(self, meta: dict[str, Any]) -> dict[str, Any]:
        import torch

        assert self._tokens is not None
        meta["llamacpp"] = {**self.lm.cache_layout(), "n_tokens": len(self._tokens)}
        return {"kv_state": torch.from_numpy(np.frombuffer(self._kv, dtype=np.uint8).copy()),
                "input_ids": torch.from_numpy(self._tokens.copy())}

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        super().load_state(tensors, meta)
        if "kv_state" not in tensors:  # saved without the cache: read the context again
            self._read()
            return
        saved, current = meta.get("llamacpp", {}), self.lm.cache_layout()
        diffs = {k: (saved.get(k), v) for k, v in current.items() if saved.get(k) != v}
        model_diffs = {k: d for k, d in diffs.items() if k in ("n_layer", "n_embd")}
        if model_diffs:
            raise IncompatibleStoreError(
                "the saved llama.cpp KV state was made by another model (" +
                "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in model_diffs.items()) +
                "); load it with the same GGUF file or memorize again")
        # Another file of the same model (its weights in another format) or a runtime setting (flash
        # attention, KV type) changed the bytes: the memory's text is read again by this model.
        if diffs:
            logger.warning("the saved KV cache has another layout (%s); reading the memory again", diffs)
            self._read()
            return
        self._prefix_text = self._prefix_prompt(self.lm.render)
        tokens = np.asarray(self.lm.tokenize(self._prefix_text), dtype=np.int32)
        ids, kv = tensors["input_ids"].numpy(), tensors["kv_state"]
        if ids.dtype != np.int32 or ids.shape != tokens.shape or not np.array_equal(ids, tokens):
            raise ValueError(f"the saved token ids ({ids.shape}) are not this model's reading of the saved context "
                             f"({tokens.shape})")
        if kv.dim() != 1 or str(kv.dtype) != "torch.uint8":
            raise ValueError("the saved llama.cpp state is not a byte array")
        self._tokens, self._kv = tokens, kv.numpy().tobytes()
        with self.lm.lock:  # fails here, not at the first query, if the bytes do not fit
            self.lm.restore_prefix(self, self._tokens, self._kv, force=True)
