"""Reciprocal-rank fusion of several ranked lists into one evidence list."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any


# The usual constant (60) was chosen for fusing long result lists from different systems. Here each
# list is 10-20 hits of one index, often a large share of a small corpus: with 60, a chunk that every
# search finds somewhere deep outranks the query's own first hit, so rank has to count for more.
DEFAULT_RRF_K = 10


@dataclass
class FusedHit:
    """One fused result: its key, fused score, every query that retrieved it, and the reranker's
    score when one read it."""

    key: Hashable
    item: Any
    score: float = 0.0
    matched_queries: list[str] = field(default_factory=list)
    query_scores: dict[str, float] = field(default_factory=dict)
    rerank_score: float | None = None


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[str, Sequence[tuple[Hashable, Any, float]]]],
    *,
    weights: Sequence[float] | None = None,
    rrf_k: int = DEFAULT_RRF_K,
) -> list[FusedHit]:
    """Fuse ``[(query, [(key, item, score), ...]), ...]`` by weighted RRF.

    A hit at rank r (from 1) of a list with weight w adds ``w / (rrf_k + r)``. Duplicate keys are
    merged; ties keep first-seen order, so the result is deterministic.
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking is needed")
    hits: dict[Hashable, FusedHit] = {}
    for (query, ranking), weight in zip(rankings, weights):
        seen: set[Hashable] = set()
        for rank, (key, item, score) in enumerate(ranking, 1):
            if key in seen:
                continue
            seen.add(key)
            hit = hits.setdefault(key, FusedHit(key, item))
            hit.score += weight / (rrf_k + rank)
            if query not in hit.query_scores:
                hit.matched_queries.append(query)
                hit.query_scores[query] = float(score)
    return sorted(hits.values(), key=lambda h: -h.score)


def cut_to_budget(
    hits: Sequence[FusedHit],
    *,
    k: int | None = None,
    token_budget: int | None = None,
    count_tokens: Callable[[FusedHit], int] | None = None,
) -> list[FusedHit]:
    """The best hits within ``k`` items and/or ``token_budget`` tokens (the first always fits)."""
    out: list[FusedHit] = []
    used = 0
    for hit in hits:
        if k is not None and len(out) >= k:
            break
        if token_budget is not None and count_tokens is not None:
            cost = count_tokens(hit)
            if out and used + cost > token_budget:
                break
            used += cost
        out.append(hit)
    return out


def query_weights(queries: Sequence[str], original: str, original_weight: float | None = None) -> list[float]:
    """1 for every expansion; the user's own query gets ``original_weight``, or by default (None) as
    much weight as all the expansions together, so clues can reorder its hits but never outvote it."""
    if original_weight is None:
        original_weight = float(max(1, sum(q != original for q in queries)))
    return [original_weight if q == original else 1.0 for q in queries]
