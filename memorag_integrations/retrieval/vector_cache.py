"""Vectors of embedded sentences, kept so that a query embeds as few as it can.

A query's reranker picks each candidate's sentences nearest the question, and its quoted answer
then picks sentences of the best candidates: mostly the same sentences, embedded by the same
model. Two stores answer before the embedder is asked:

- the corpus's sentences, embedded once when the corpus is indexed and saved with it
  (:meth:`VectorCache.keep`): a query's candidates are chunks of the corpus, so on two cores this
  takes embedding (about a quarter of a query's seconds) out of the query;
- the last ``size`` other texts a query embedded (a question, a passage from an outside store).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import numpy as np

#: Other texts whose vectors are kept: a query's sentences are a few hundred.
KEPT = 4096


def text_key(text: str) -> int:
    """A 64-bit key of ``text``: what a saved folder stores in place of the sentence itself."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


class VectorCache:
    """``encode`` (texts -> an ``(n, dim)`` array) that embeds only the texts it does not hold:
    the corpus's kept sentences, or the last ``size`` others; safe to share between threads."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], size: int = KEPT) -> None:
        self.encode, self.size = encode, size
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._kept: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        with self._lock:
            found = {t: v for t in texts if (v := self._lookup(t)) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = np.asarray(self.encode(missing), dtype=np.float32)
            found.update(zip(missing, fresh))
            with self._lock:
                self._recent.update(zip(missing, fresh))
                while len(self._recent) > self.size:
                    self._recent.popitem(last=False)
        if not texts:
            return np.asarray(self.encode([]), dtype=np.float32)
        return np.stack([found[t] for t in texts])

    def _lookup(self, text: str) -> np.ndarray | None:
        if (vector := self._recent.get(text)) is not None:
            self._recent.move_to_end(text)
            return vector
        return self._kept.get(text_key(text)) if self._kept else None

    # -- the corpus's sentences --------------------------------------------------------------------
    def keep(self, texts: Iterable[str]) -> int:
        """Embed the ``texts`` not kept yet and keep them for good; returns how many were embedded."""
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if text_key(t) not in self._kept))
        if todo:
            vectors = np.asarray(self.encode(todo), dtype=np.float32)
            with self._lock:
                self._kept.update(zip(map(text_key, todo), vectors))
        return len(todo)

    def kept(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(keys, vectors)`` of the kept ``texts`` (the current corpus's sentences), to save."""
        with self._lock:
            keys = [k for k in dict.fromkeys(map(text_key, texts)) if k in self._kept]
            vectors = [self._kept[k] for k in keys]
        dim = vectors[0].shape[0] if vectors else 0
        return np.asarray(keys, dtype=np.int64), np.asarray(vectors, dtype=np.float32).reshape(len(keys), dim)

    def load_kept(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Keep saved vectors (what :meth:`kept` gave), in place of any kept before."""
        if keys.ndim != 1 or vectors.ndim != 2 or len(keys) != len(vectors):
            raise ValueError(f"kept sentence vectors of shapes {keys.shape} and {vectors.shape} do not match")
        with self._lock:
            self._kept = dict(zip(keys.tolist(), np.asarray(vectors, dtype=np.float32)))

    def forget_kept(self) -> None:
        with self._lock:
            self._kept = {}


#: The saved folder's file of the corpus's sentence vectors (optional: older folders lack it).
SENTENCES_FILE = "sentences.safetensors"


def write_kept(path, keys: np.ndarray, vectors: np.ndarray) -> None:
    from safetensors.numpy import save_file

    save_file({"keys": np.ascontiguousarray(keys), "vectors": np.ascontiguousarray(vectors)}, str(path))


def read_kept(path, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(keys, vectors)`` written by :func:`write_kept`; ``ValueError`` unless they are int64
    keys and float32 vectors of ``dim``, one per key."""
    from safetensors.numpy import load_file

    saved = load_file(str(path))
    keys, vectors = saved.get("keys"), saved.get("vectors")
    if set(saved) != {"keys", "vectors"} or keys is None or vectors is None:
        raise ValueError(f"{SENTENCES_FILE} holds {sorted(saved)}, not keys and vectors")
    if (keys.dtype != np.int64 or vectors.dtype != np.float32 or keys.ndim != 1 or vectors.ndim != 2
            or vectors.shape != (len(keys), dim)):
        raise ValueError(f"{SENTENCES_FILE} holds keys {keys.dtype}{keys.shape} and vectors "
                         f"{vectors.dtype}{vectors.shape}; expected int64 keys and float32 vectors of dimension {dim}")
    return keys, vectors
