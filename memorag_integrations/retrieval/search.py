"""The searcher seam: many queries in, one ranked hit list per query out.

The core's FAISS index (:class:`~memorag_integrations.retrieval.retriever.DenseRetriever`) is one
searcher; the adapters wrap a LangChain ``VectorStore`` or a LlamaIndex retriever as others. The
query pipeline never knows which one it searches.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Collection, Hashable, Sequence
from typing import Any, NamedTuple


class Hit(NamedTuple):
    """One search result: a key that is stable across searches (to merge duplicates), the
    searcher's own item (a chunk, a LangChain ``Document``, a LlamaIndex node) and its score."""

    key: Hashable
    item: Any
    score: float


class Searcher(ABC):
    """Searches an index of chunks for many queries at once."""

    @abstractmethod
    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The best ``k`` hits of each query, best first, in the order of ``queries``."""

    async def asearch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """Async :meth:`search`; a local index runs in a worker thread, remote stores override this."""
        return await asyncio.to_thread(self.search, queries, k)

    def within(self, doc_ids: Collection[str]) -> Searcher | None:
        """This searcher limited to the chunks of ``doc_ids``, for the catalog's scoped searches;
        None where it cannot be limited (those searches are then skipped)."""
        return None

    @abstractmethod
    def text_of(self, item: Any) -> str:
        """The text of a hit's item (what the generator reads, and what the token budget counts)."""
