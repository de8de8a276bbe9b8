"""A FAISS inner-product index over normalised vectors, saved with FAISS's own format.

With faiss-gpu installed and a GPU visible the index lives on the GPU(s); files are always
written from a CPU copy, so a corpus saved on one kind of machine loads on the other.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
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

    def search(self, queries: np.ndarray, k: int, *,
               among: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)`` of shape ``(n_queries, min(k, candidates))``; ``among`` limits the
        candidates to those ids (a filter), all of them otherwise."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        ids = None if among is None else np.unique(np.asarray(among, dtype=np.int64))
        k = min(k, len(self) if ids is None else len(ids))
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        if ids is None:
            return self.index.search(queries, k)
        if self.on_gpu:  # a GPU flat index takes no id selector: score the candidates directly
            scores = queries @ self.vectors()[ids].T
            best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            return np.take_along_axis(scores, best, axis=1), ids[best]
        selector = faiss.IDSelectorBatch(ids)  # held here: the parameters do not keep it alive
        params = faiss.SearchParameters()
        params.sel = selector
        return self.index.search(queries, k, params=params)

    def vectors(self) -> np.ndarray:
        """Every vector held, in order (an ``(n, dim)`` copy)."""
        index = faiss.index_gpu_to_cpu(self.index) if self.on_gpu else self.index
        return index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), dtype=np.float32)

    def save(self, path: Path) -> None:
        index = faiss.index_gpu_to_cpu(self.index) if self.on_gpu else self.index
        faiss.write_index(index, str(path))

    @classmethod
    def load(cls, path: Path, *, count: int | None = None, use_gpu: bool | None = None) -> FaissIndex:
        """Read an index written by :meth:`save`; its header is checked first (see
        :func:`check_flat_index_file`), so a damaged or crafted file never makes faiss allocate
        more than the file holds. ``count``: the number of vectors it must hold."""
        check_flat_index_file(path, count)
        obj = cls.__new__(cls)
        try:
            obj.index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ValueError(f"faiss cannot read {path.name}: {str(exc).splitlines()[0]}") from exc
        obj.on_gpu = False
        obj._place(use_gpu)
        return obj


# FAISS's file layout of an IndexFlatIP: "IxFI", d (int32), ntotal (int64), two unused int64,
# is_trained (uint8), metric (int32), then the vectors as a length-prefixed float32 array.
_FLAT_HEADER = struct.Struct("<4siqqqBiQ")
_FLAT_IP, _METRIC_IP = b"IxFI", 0


def check_flat_index_file(path: Path, count: int | None = None) -> None:
    """Raise ``ValueError`` unless ``path`` is exactly an inner-product flat index of ``count``
    vectors: the size its header claims must be the size the file has."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(_FLAT_HEADER.size)
    if len(head) < _FLAT_HEADER.size:
        raise ValueError(f"{path.name} is too short to be a FAISS index ({size} bytes)")
    fourcc, dim, ntotal, _, _, _, metric, floats = _FLAT_HEADER.unpack(head)
    if fourcc != _FLAT_IP or metric != _METRIC_IP:
        raise ValueError(f"{path.name} is not an inner-product flat FAISS index")
    if not 0 < dim <= 1 << 16 or ntotal < 0 or floats != ntotal * dim:
        raise ValueError(f"{path.name} has an inconsistent header (dim {dim}, {ntotal} vectors)")
    if size != _FLAT_HEADER.size + 4 * floats:
        raise ValueError(f"{path.name} claims {ntotal} vectors of dimension {dim} but holds {size} bytes")
    if count is not None and ntotal != count:
        raise ValueError(f"{path.name} holds {ntotal} vectors for {count} chunks")


def check_store_dimension(held: int | None, embed: Callable[[str], Sequence[float]], *, store: str, writer: str,
                          remedy: str) -> None:
    """Refuse a store holding vectors of dimension ``held`` when ``embed`` writes another (one text
    is embedded to learn it), before anything is read or written. ``held`` None: nothing to check.
    The adapters name the store, the embedder (``writer``) and what to pass in their own terms."""
    from memorag_integrations.errors import InvalidInputError

    if held is None:
        return
    written = len(embed("dimension check"))
    if held != written:
        raise InvalidInputError(f"the {store} holds vectors of dimension {held} but {writer} {written}: pass "
                                f"{remedy}, or a new store")
