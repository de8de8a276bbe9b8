"""The one query pipeline after the memory has written its clues.

plan the searches (the query and every clue) -> search them all at once (any :class:`Searcher`,
sync or async) -> fuse by weighted reciprocal rank -> cut to ``k`` and the token budget.

The engine and both adapters retrieve through :func:`rank` / :func:`arank`; a new step (a
reranker, a second round, a document filter) is added here once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memorag_integrations.defaults import fetch_count
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.retrieval.fusion import (DEFAULT_RRF_K, FusedHit, cut_to_budget, query_weights,
                                                   reciprocal_rank_fusion)
from memorag_integrations.retrieval.search import Hit, Searcher
from memorag_integrations.schema import Clues


@dataclass(frozen=True)
class Fusion:
    """How the searches' hits become one list: the query's weight (None: as much as all its clues
    together), the rank-fusion constant, and an optional token budget for the kept evidence."""

    query_weight: float | None = None
    rrf_k: int = DEFAULT_RRF_K
    token_budget: int | None = None


def check_k(k: object, name: str = "k") -> int:
    """``k`` as a positive int, or a typed error that says so (0 and negatives included)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {k!r}")
    return k


def plan_searches(query: str, clues: Clues | None) -> list[str]:
    """The query and every clue, stripped, each once, empty ones dropped: one search each."""
    items = [query, *(clues.queries() if clues is not None else [])]
    return list(dict.fromkeys(q.strip() for q in items if q and q.strip()))


def fuse(query: str, searches: Sequence[str], results: Sequence[Sequence[Hit]], *, k: int, fusion: Fusion,
         text_of: Callable[[object], str], count_tokens: Callable[[str], int]) -> list[FusedHit]:
    """One ranked list from the searches' hits: weighted RRF, then the best ``k`` within the budget.

    Each fused hit keeps the queries that found it and its score from each."""
    rankings = [(q, list(hits)) for q, hits in zip(searches, results)]
    fused = reciprocal_rank_fusion(rankings, weights=query_weights(searches, query.strip(), fusion.query_weight),
                                   rrf_k=fusion.rrf_k)
    return cut_to_budget(fused, k=k, token_budget=fusion.token_budget,
                         count_tokens=lambda h: count_tokens(text_of(h.item)))


def rank(searcher: Searcher, query: str, clues: Clues | None, *, k: int, fusion: Fusion,
         count_tokens: Callable[[str], int], fetch_k: int | None = None) -> list[FusedHit]:
    """The evidence for ``query`` and its ``clues`` from ``searcher``, best first."""
    searches = plan_searches(query, clues)
    results = searcher.search(searches, fetch_k or fetch_count(k))
    return fuse(query, searches, results, k=k, fusion=fusion, text_of=searcher.text_of, count_tokens=count_tokens)


async def arank(searcher: Searcher, query: str, clues: Clues | None, *, k: int, fusion: Fusion,
                count_tokens: Callable[[str], int], fetch_k: int | None = None) -> list[FusedHit]:
    """Async :func:`rank`: the searches go through the searcher's own ``asearch``."""
    searches = plan_searches(query, clues)
    results = await searcher.asearch(searches, fetch_k or fetch_count(k))
    return fuse(query, searches, results, k=k, fusion=fusion, text_of=searcher.text_of, count_tokens=count_tokens)
