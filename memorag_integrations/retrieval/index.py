"""A FAISS inner-product index over normalised vectors, saved with FAISS's own format.

With faiss-gpu installed and a GPU visible the index lives on the GPU(s); files are always
written from a CPU copy, so a corpus saved on one kind of machine loads on the other.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from memorag_integrations.errors import MissingDependencyError


def gpu_count() -> int:
    """GPUs faiss can use: 0 with faiss-cpu, whatever the machine has."""
    if not hasattr(faiss, "StandardGpuResources"):
        return 0
    return int(faiss.get_num_gpus())


class FaissIndex:
    """Exact inner-product search (``IndexFlatIP``): on unit vectors, cosine similarity.

    ``use_gpu``: None moves the index to the GPUs when faiss-gpu sees one; True requires it.
    """

    def __init__(self, dim: int, *, use_gpu: bool | None = None) -> None:
        self.index: faiss.Index = faiss.IndexFlatIP(dim)
        self.on_gpu = False
        self._place(use_gpu)

    def _place(self, use_gpu: bool | None) -> None:
        gpus = gpu_count()
        if use_gpu and not gpus:
            raise MissingDependencyError("use_gpu=True needs faiss-gpu and a visible GPU: pip install faiss-gpu "
                                         "(or faiss-gpu-cu12), or leave use_gpu unset")
        if gpus and use_gpu is not False:
            self.index = faiss.index_cpu_to_all_gpus(self.index)
            self.on_gpu = True

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
        index = faiss.index_gpu_to_cpu(self.index) if self.on_gpu else self.index
        faiss.write_index(index, str(path))

    @classmethod
    def load(cls, path: Path, *, use_gpu: bool | None = None) -> FaissIndex:
        obj = cls.__new__(cls)
        obj.index = faiss.read_index(str(path))
        obj.on_gpu = False
        obj._place(use_gpu)
        return obj
