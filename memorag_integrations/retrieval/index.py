"""A FAISS inner-product index over normalised vectors, saved with FAISS's own format."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class FaissIndex:
    """Exact inner-product search (``IndexFlatIP``): on unit vectors, cosine similarity."""

    def __init__(self, dim: int) -> None:
        self.index = faiss.IndexFlatIP(dim)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {vectors.shape}")
        self.index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)`` of shape ``(n_queries, min(k, len(self)))``."""
        k = min(k, len(self))
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        obj = cls.__new__(cls)
        obj.index = faiss.read_index(str(path))
        return obj
