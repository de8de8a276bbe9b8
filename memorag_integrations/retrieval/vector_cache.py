"""Vectors of recently embedded texts, kept so that one query embeds each sentence once.

A query's reranker picks each candidate's sentences nearest the question, and its quoted answer
then picks sentences of the best candidates: mostly the same sentences, embedded by the same
model. On two cores that second embedding was about a tenth of a query's seconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

#: Texts whose vectors are kept: a query's sentences are a few hundred.
KEPT = 4096


class VectorCache:
    """``encode`` (texts -> an ``(n, dim)`` array) that embeds only the texts it has not seen
    among the last ``size``; safe to share between threads."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], size: int = KEPT) -> None:
        self.encode, self.size = encode, size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        with self._lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in found:
                self._vectors.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            fresh = np.asarray(self.encode(missing), dtype=np.float32)
            found.update(zip(missing, fresh))
            with self._lock:
                self._vectors.update(zip(missing, fresh))
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.asarray(self.encode([]), dtype=np.float32)
        return np.stack([found[t] for t in texts])
