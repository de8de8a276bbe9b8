"""Embedders: text -> L2-normalised float32 vectors, plus the tokenizer used for chunking."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from memorag_integrations.errors import require
from memorag_integrations.models import check_device, quiet_loading, resolve_embedder
from memorag_integrations.text import regex_offsets


class Embedder(ABC):
    """Turns texts into normalised vectors so that inner product is cosine similarity."""

    identity: str = "unknown"
    max_tokens: int = 512

    @abstractmethod
    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """An ``(n, dim)`` float32 array of unit vectors."""

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return regex_offsets(text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identity={self.identity!r})"


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class _HFTokenizerOffsets:
    tokenizer: Any = None  # a Hugging Face tokenizer, set by the embedder

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False,
                             verbose=False)
        return [tuple(o) for o in enc["offset_mapping"]]


class SentenceTransformerEmbedder(_HFTokenizerOffsets, Embedder):
    """A sentence-transformers model: None (embedded all-MiniLM-L6-v2), a local folder or a hub id."""

    def __init__(self, model: str | os.PathLike | None = None, *, device: str | None = None,
                 batch_size: int = 32, local_files_only: bool = False) -> None:
        from sentence_transformers import SentenceTransformer

        self.identity, location = resolve_embedder(model)
        with quiet_loading():
            self.model = SentenceTransformer(location, device=check_device(device), local_files_only=local_files_only)
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length or 512)
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=progress,
                                    convert_to_numpy=True, normalize_embeddings=True)
        return _normalise(vectors)


class BGEM3Embedder(_HFTokenizerOffsets, Embedder):
    """BAAI/bge-m3 (or a local copy) through FlagEmbedding's dense vectors; extra ``bge``."""

    def __init__(self, model: str | os.PathLike = "BAAI/bge-m3", *, use_fp16: bool | None = None,
                 batch_size: int = 16, max_tokens: int = 1024) -> None:
        flag = require("FlagEmbedding", "bge", "BGEM3Embedder")
        import torch

        self.identity = f"bge-m3:{model}"
        fp16 = torch.cuda.is_available() if use_fp16 is None else use_fp16
        self.model = flag.BGEM3FlagModel(str(model), use_fp16=fp16)
        self.tokenizer = self.model.tokenizer
        self.max_tokens = max_tokens
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        out = self.model.encode(list(texts), batch_size=self.batch_size, max_length=self.max_tokens)
        return _normalise(out["dense_vecs"])
