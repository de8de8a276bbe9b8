"""Memory of kind ``kv`` on llama.cpp: the KV cache of the corpus (or of its gists) in a GGUF model.

The memory prompt is read once. Each query keeps those cache positions, reads only its own
instruction after them and generates; nothing a query does touches the prefix, so queries are
independent of each other and of their order. When the shared context was used for something else
in between (the final answer, another memory), the prefix is copied back from its saved bytes,
not read again. The saved state is those KV bytes (llama.cpp's per-sequence state) and the token
ids, as uint8/int32 tensors in safetensors; not the logits buffer, and no pickle.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from memorag_integrations.errors import IncompatibleStoreError
from memorag_integrations.llm.llamacpp import LlamaCppGenerator
from memorag_integrations.memory.base import Memory
from memorag_integrations.memory.gist import Compressor
from memorag_integrations.prompts import detect_language, get_prompts
from memorag_integrations.schema import Document

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

    def __init__(self, model: LlamaCppGenerator | str | os.PathLike | None = None, *, max_memory_tokens: int = 4096,
                 gist_chunk_tokens: int = 1536, gist_tokens: int = 64, batch_size: int = 1,
                 **generator_options: Any) -> None:
        generator = model if isinstance(model, LlamaCppGenerator) else LlamaCppGenerator(model, **generator_options)
        super().__init__(generator)
        self.lm: LlamaCppGenerator = generator
        self.max_memory_tokens = min(max_memory_tokens, generator.context_window - 1024)
        self.compressor = Compressor(generator, gist_chunk_tokens, gist_tokens, batch_size)
        self._tokens: np.ndarray | None = None  # int32 token ids of the memory prompt
        self._kv = b""  # llama.cpp's state of sequence 0 after reading them
        self._prefix_text = ""

    @property
    def is_ready(self) -> bool:
        return self._tokens is not None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "backend": self.backend, "max_memory_tokens": self.max_memory_tokens,
                "gist_chunk_tokens": self.compressor.chunk_tokens, "gist_tokens": self.compressor.gist_tokens}

    def memorize(self, documents: Sequence[Document], *, progress: bool = True) -> None:
        self.language = detect_language(" ".join(d.text[:2000] for d in documents))
        self.context, self.gists = self.compressor.build_context(
            documents, get_prompts(self.language), self.max_memory_tokens, progress=progress)
        self._read()

    def _read(self) -> None:
        self._prefix_text = self.lm.render(self._messages(get_prompts(self.language)), generation_prompt=False)
        tokens = self.lm.tokenize(self._prefix_text)
        llm = self.lm.llm
        with self.lm.lock:
            llm.n_tokens = 0
            llm.eval(tokens)
            self._kv = _get_sequence(llm)
            self.lm.prefix_owner = self
        self._tokens = np.asarray(tokens, dtype=np.int32)

    def _restore(self) -> None:
        """Put the prefix back into the cache if something else used it (caller holds the lock)."""
        llm, n = self.lm.llm, len(self._tokens)
        if self.lm.prefix_owner is self and llm.n_tokens >= n:
            return
        _set_sequence(llm, self._kv)
        llm.input_ids[:n] = self._tokens
        llm.n_tokens = n
        self.lm.prefix_owner = self

    def _suffix_tokens(self, instruction: str) -> list[int]:
        messages = [*self._messages(get_prompts(self.language)), {"role": "user", "content": instruction}]
        full = self.lm.render(messages)
        if not full.startswith(self._prefix_text):
            raise RuntimeError("the chat template does not extend the memory prefix; use PromptMemory instead")
        return self.lm.tokenize(full[len(self._prefix_text):])

    def _answer(self, suffix: list[int], max_new_tokens: int) -> Iterator[str]:
        self._restore()
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

    # -- saving --------------------------------------------------------------------------------
    def _layout(self) -> dict[str, Any]:
        """What the KV bytes depend on: the model file and the cache layout."""
        import llama_cpp

        llm = self.lm.llm
        return {"model_bytes": self.lm.path.stat().st_size, "n_layer": int(llama_cpp.llama_model_n_layer(llm.model)),
                "n_embd": int(llm.n_embd()), "flash_attn": self.lm.flash_attn,
                "type_k": int(llm.context_params.type_k), "type_v": int(llm.context_params.type_v)}

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        import torch

        _, meta = super().state()
        meta["llamacpp"] = {**self._layout(), "n_tokens": len(self._tokens)}
        tensors = {"kv_state": torch.from_numpy(np.frombuffer(self._kv, dtype=np.uint8).copy()),
                   "input_ids": torch.from_numpy(self._tokens.copy())}
        return tensors, meta

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        super().load_state(tensors, meta)
        prompts = get_prompts(self.language)
        if "kv_state" not in tensors:  # saved without the cache: read the context again
            self._read()
            return
        saved, current = meta.get("llamacpp", {}), self._layout()
        diffs = {k: (saved.get(k), v) for k, v in current.items() if saved.get(k) != v}
        model_diffs = {k: d for k, d in diffs.items() if k in ("model_bytes", "n_layer", "n_embd")}
        if model_diffs:
            raise IncompatibleStoreError(
                "the saved llama.cpp KV state was made by another model file (" +
                "; ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in model_diffs.items()) +
                "); load it with the same GGUF file or memorize again")
        if diffs:  # a runtime setting (flash attention, KV type) changed the byte layout: read again
            logger.warning("the saved KV cache has another layout (%s); reading the memory again", diffs)
            self._read()
            return
        self._prefix_text = self.lm.render(self._messages(prompts), generation_prompt=False)
        self._tokens = tensors["input_ids"].numpy().astype(np.int32)
        self._kv = tensors["kv_state"].numpy().tobytes()
        with self.lm.lock:
            self.lm.prefix_owner = None
            self._restore()  # fails here, not at the first query, if the bytes do not fit


def _get_sequence(llm) -> bytes:
    import llama_cpp

    size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(llm.ctx, buffer, size, 0)
    return bytes(buffer)[:written]


def _set_sequence(llm, data: bytes) -> None:
    import llama_cpp

    llm._ctx.kv_cache_seq_rm(0, 0, -1)
    buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    if llama_cpp.llama_state_seq_set_data(llm.ctx, buffer, len(data), 0) == 0:
        raise IncompatibleStoreError("llama.cpp refused the saved KV state (another model or context size?); "
                                     "memorize again")
