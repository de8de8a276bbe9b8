"""Embedding bridges: the core's offline embedder in LlamaIndex, and any LlamaIndex embedding in the core."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from memorag_integrations.retrieval.embedders import Embedder


class MemoRAGEmbedding(BaseEmbedding):
    """A core :class:`~memorag_integrations.retrieval.embedders.Embedder` as a LlamaIndex embedding.

    ``MemoRAGEmbedding()`` is the embedded all-MiniLM-L6-v2: offline, unlike LlamaIndex's default
    (OpenAI). A string is a sentence-transformers model (a local folder or a hub id). Async calls
    run the model in a worker thread, so they do not block the event loop.
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder | str | os.PathLike | None = None, *, embed_batch_size: int = 32,
                 **kwargs: Any) -> None:
        if not isinstance(embedder, Embedder):
            from memorag_integrations.retrieval.embedders import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder(embedder)
        super().__init__(model_name=embedder.identity, embed_batch_size=embed_batch_size, **kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "MemoRAGEmbedding"

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embeddings([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.encode(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


class LlamaIndexEmbedder(Embedder):
    """Any LlamaIndex embedding as a core embedder (chunking then counts words, not model tokens)."""

    def __init__(self, embed_model: BaseEmbedding, *, max_tokens: int = 512) -> None:
        self.embed_model = embed_model
        self.identity = embedding_identity(embed_model)
        self.max_tokens = max_tokens

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        vectors = np.asarray(self.embed_model.get_text_embedding_batch(list(texts), show_progress=progress),
                             dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def embedding_identity(embed_model: BaseEmbedding) -> str:
    """The name a saved corpus records for ``embed_model`` and checks on load."""
    if isinstance(embed_model, MemoRAGEmbedding):
        return embed_model.embedder.identity
    return f"llamaindex:{embed_model.class_name()}:{embed_model.model_name}"


def core_embedder(embed_model: BaseEmbedding) -> Embedder:
    """The core embedder behind ``embed_model``: its own one when there is one, else a bridge."""
    if isinstance(embed_model, MemoRAGEmbedding):
        return embed_model.embedder
    return LlamaIndexEmbedder(embed_model)
