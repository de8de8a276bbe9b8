"""The one query pipeline after the memory has written its clues.

plan the searches (the query and every clue) -> search them all at once (any :class:`Searcher`,
sync or async), with the catalog's scoped searches (one per source the question names, over that
source's documents: ``Steps.scope``) -> drop the clues their own hits do not support
(``Steps.grounding``) -> optionally
a second round: the query with the first round's best evidence searches once more
(``Steps.feedback``) -> fuse by weighted reciprocal rank -> optionally a reranker reads the best
candidates and its order is fused with theirs (``Steps.rerank``) -> cut to ``k`` and the token budget.

The engine and both adapters retrieve through :func:`rank` / :func:`arank`; a new step (a document
filter, say) is added here once, beside those two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from memorag_integrations.defaults import SCOPE_SEED, SCOPE_WEIGHT, fetch_count
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.retrieval.fusion import (DEFAULT_RRF_K, FusedHit, cut_to_budget, query_weights,
                                                   reciprocal_rank_fusion)
from memorag_integrations.retrieval.catalog import Scope
from memorag_integrations.retrieval.grounding import support
from memorag_integrations.retrieval.rerank import Reranker
from memorag_integrations.retrieval.search import Hit, Searcher
from memorag_integrations.schema import Clues


@dataclass(frozen=True)
class Fusion:
    """How the searches' hits become one list: the query's weight (None: as much as all its clues
    together), the rank-fusion constant, and an optional token budget for the kept evidence."""

    query_weight: float | None = None
    rrf_k: int = DEFAULT_RRF_K
    token_budget: int | None = None

    def __post_init__(self) -> None:
        w = self.query_weight
        if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or w <= 0):
            raise InvalidInputError(f"query_weight must be a positive number, or None to weigh the query as much as "
                                    f"all its clues; got {w!r}")
        check_k(self.rrf_k, "rrf_k")
        if self.token_budget is not None:
            check_k(self.token_budget, "token_budget")


@dataclass(frozen=True)
class Steps:
    """The optional steps around fusion.

    ``grounding``: a clue is searched only when at least this share of its new content words (those
    not in the query) occur in its own best hit; None keeps every clue. ``feedback``: a second round
    in which the query, followed by the text of the first round's best ``feedback`` hits, is one more
    search (it finds what the first evidence leads to: the other half of a two-hop question); 0 turns
    it off. Its hits weigh ``feedback_weight`` in the fusion. ``rerank``: how many of the best fused
    candidates a :class:`Reranker` reads; its order and theirs are fused (equal weights), so a passage
    both rank highly comes first. 0 turns it off. ``rerank_with_clues``: how many it reads when the
    memory's clues are searched beside the query (their hits compete with the query's for the
    candidates' places); None: ``rerank``.
    """

    grounding: float | None = None
    feedback: int = 0
    feedback_weight: float = 1.0
    rerank: int = 0
    rerank_with_clues: int | None = None
    scope: bool = False
    scope_weight: float = SCOPE_WEIGHT
    scope_seed: int = SCOPE_SEED

    def __post_init__(self) -> None:
        g = self.grounding
        if g is not None and (isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 <= g <= 1):
            raise InvalidInputError(f"grounding must be a share between 0 and 1, or None to keep every clue; got {g!r}")
        check_whole(self.feedback, "feedback must be a whole number of hits, 0 to turn it off")
        check_positive(self.feedback_weight, "feedback_weight must be a positive number")
        check_whole(self.rerank, "rerank must be a whole number of candidates, 0 to turn it off")
        if self.rerank_with_clues is not None:
            check_whole(self.rerank_with_clues, "rerank_with_clues must be a whole number of candidates, or None "
                                                "to read rerank's")
        if not isinstance(self.scope, bool):
            raise InvalidInputError(f"scope must be True or False, got {self.scope!r}")
        check_positive(self.scope_weight, "scope_weight must be a positive number")
        check_whole(self.scope_seed, "scope_seed must be a whole number of hits, 0 for none")


def check_whole(value: object, message: str) -> None:
    """``value`` a whole number of at least 0 (not a bool), or a typed error: ``message; got value``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{message}; got {value!r}")


def check_positive(value: object, message: str) -> None:
    """``value`` a number above 0 (not a bool), or a typed error: ``message; got value``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidInputError(f"{message}; got {value!r}")


def check_k(k: object, name: str = "k") -> int:
    """``k`` as a positive int, or a typed error that says so (0 and negatives included)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {k!r}")
    return k


def check_clues(clues: object) -> None:
    """``clues`` a :class:`Clues` or None, or a typed error."""
    if clues is not None and not isinstance(clues, Clues):
        raise InvalidInputError(f"clues must be a Clues (Clues() for plain dense retrieval) or None, got "
                                f"{type(clues).__name__}")


def plan_searches(query: str, clues: Clues | None) -> list[str]:
    """The query and every clue, stripped, each once, empty ones dropped: one search each."""
    check_clues(clues)
    items = [query, *(clues.queries() if clues is not None else [])]
    return list(dict.fromkeys(q.strip() for q in items if q and q.strip()))


def fuse(query: str, searches: Sequence[str], results: Sequence[Sequence[Hit]], *, fusion: Fusion,
         second_round: Sequence[Sequence[Hit]] = (), feedback_weight: float = 1.0,
         scoped: Sequence[tuple[str, Sequence[Hit]]] = (), scope_weight: float = 1.0) -> list[FusedHit]:
    """One ranked list from the searches' hits by weighted RRF.

    ``second_round`` holds the hits of the feedback searches, which weigh ``feedback_weight`` and are
    named :func:`second_round_label` in ``matched_queries``; ``scoped`` the catalog's scoped
    searches by label, which weigh ``scope_weight``. Each fused hit keeps the queries that found it
    and its score from each.
    """
    rankings = [*zip(searches, results), *((second_round_label(query), hits) for hits in second_round), *scoped]
    weights = [*query_weights(searches, query.strip(), fusion.query_weight), *([feedback_weight] * len(second_round)),
               *([scope_weight] * len(scoped))]
    return reciprocal_rank_fusion(rankings, weights=weights, rrf_k=fusion.rrf_k)


def seeded(fused: list[FusedHit], scoped: Sequence[tuple[str, Sequence[Hit]]], n: int) -> list[FusedHit]:
    """``fused`` with the best ``n`` hits of each scoped search first: the first of every search
    in turn, then the second..., each once, in that order; the rest keep their fused order."""
    order = list(dict.fromkeys(hits[i].key for i in range(n) for _, hits in scoped if i < len(hits)))
    by_key = {h.key: h for h in fused}
    first = [by_key[key] for key in order if key in by_key]
    chosen = {id(h) for h in first}
    return first + [h for h in fused if id(h) not in chosen]


def scoped_label(scope: Scope) -> str:
    """How a scoped search is named among a hit's ``matched_queries``."""
    return f"{scope.query} (in {scope.label})"


def scoped_searchers(searcher: Searcher, scopes: Sequence[Scope], steps: Steps) -> list[tuple[Scope, Searcher]]:
    """Each scope with the searcher limited to its documents; none when the step is off or the
    searcher cannot be limited."""
    if not steps.scope:
        return []
    pairs = [(scope, searcher.within(scope.doc_ids)) for scope in scopes]
    return [(scope, sub) for scope, sub in pairs if sub is not None]


def search_scoped(searcher: Searcher, scopes: Sequence[Scope], steps: Steps, fetch: int) -> list[tuple[str, list[Hit]]]:
    """The hits of every scoped search, by label."""
    return [(scoped_label(scope), sub.search([scope.query], fetch)[0])
            for scope, sub in scoped_searchers(searcher, scopes, steps)]


async def asearch_scoped(searcher: Searcher, scopes: Sequence[Scope], steps: Steps,
                         fetch: int) -> list[tuple[str, list[Hit]]]:
    """Async :func:`search_scoped`."""
    return [(scoped_label(scope), (await sub.asearch([scope.query], fetch))[0])
            for scope, sub in scoped_searchers(searcher, scopes, steps)]


def to_rerank(query: str, fused: list[FusedHit], steps: Steps, reranker: Reranker | None, *,
              clued: bool = False) -> list[FusedHit]:
    """The candidates the reranker reads: the best ``steps.rerank`` (``rerank_with_clues`` when
    ``clued``: a clue was searched beside the query), when there is a query to judge them by (a
    summary's key points have none) and more than one to order."""
    depth = steps.rerank_with_clues if clued and steps.rerank_with_clues is not None else steps.rerank
    if not depth or not query.strip() or len(fused) < 2:
        return []
    if reranker is None:
        raise InvalidInputError("Steps.rerank needs a reranker (e.g. QueryLikelihoodReranker(generator)); "
                                "pass reranker=..., or rerank=0 to turn the step off")
    return fused[:depth]


def reordered(fused: list[FusedHit], scores: Sequence[float], rrf_k: int) -> list[FusedHit]:
    """``fused`` with its first ``len(scores)`` hits re-ordered by RRF of their fused order and the
    reranker's ``scores`` (a tie goes to the reranker's choice: it read the passages); each keeps
    its ``rerank_score`` and takes the new fused score. The rest keep their places after them."""
    head = fused[:len(scores)]
    by_model = {id(h): r for r, (_, h) in enumerate(sorted(zip(scores, head), key=lambda p: -p[0]), 1)}
    for rank_, (hit, score) in enumerate(zip(head, scores), 1):
        hit.rerank_score = float(score)
        hit.score = 1 / (rrf_k + rank_) + 1 / (rrf_k + by_model[id(hit)])
    return sorted(head, key=lambda h: (-h.score, by_model[id(h)])) + fused[len(scores):]


def cut(fused: list[FusedHit], *, k: int | None, fusion: Fusion, text_of: Callable[[object], str],
        count_tokens: Callable[[str], int]) -> list[FusedHit]:
    """The best ``k`` hits within the token budget."""
    return cut_to_budget(fused, k=k, token_budget=fusion.token_budget,
                         count_tokens=lambda h: count_tokens(text_of(h.item)))


def second_round_label(query: str) -> str:
    """How the second round's search is named among a hit's ``matched_queries``."""
    return f"{query.strip()} (second round)"


def grounded(query: str, searches: list[str], results: list[list[Hit]], threshold: float | None,
             text_of: Callable[[object], str]) -> tuple[list[str], list[list[Hit]]]:
    """The searches (and their hits) left once clues that their own best hit does not support are
    dropped. The query always stays; without one (a summary's key points) the clues are all there is
    to search, so they stay when none is supported."""
    if threshold is None:
        return searches, results
    query = query.strip()  # as planned: the searches are stripped
    kept = [(q, hits) for q, hits in zip(searches, results)
            if q == query or (hits and support(q, text_of(hits[0].item), exclude=query) >= threshold)]
    if not kept:
        return searches, results
    return [q for q, _ in kept], [hits for _, hits in kept]


def feedback_searches(query: str, searches: list[str], results: list[list[Hit]], *, steps: Steps,
                      fusion: Fusion, text_of: Callable[[object], str]) -> list[str]:
    """The second round's search: the query and the text of the first round's best hits (none
    without a query: a summary's key points have no question to follow up)."""
    if not steps.feedback or not query.strip():
        return []
    top = fuse(query, searches, results, fusion=fusion)[:steps.feedback]
    if not top:
        return []
    return ["\n\n".join([query, *(text_of(h.item).strip() for h in top)])]


def first_round(query: str, searches: list[str], results: list[list[Hit]], *, steps: Steps, fusion: Fusion,
                text_of: Callable[[object], str]) -> tuple[list[str], list[list[Hit]], list[str]]:
    """The first round's searches and hits once grounded, and the second round's searches to run."""
    searches, results = grounded(query, searches, results, steps.grounding, text_of)
    return searches, results, feedback_searches(query, searches, results, steps=steps, fusion=fusion, text_of=text_of)


def rank(searcher: Searcher, query: str, clues: Clues | None, *, k: int, fusion: Fusion,
         count_tokens: Callable[[str], int], fetch_k: int | None = None, steps: Steps = Steps(),
         reranker: Reranker | None = None, scopes: Sequence[Scope] = ()) -> list[FusedHit]:
    """The evidence for ``query`` and its ``clues`` (and the catalog's ``scopes``) from
    ``searcher``, best first."""
    fetch = fetch_count(k) if fetch_k is None else check_k(fetch_k, "fetch_k")
    searches = plan_searches(query, clues)
    searches, results, extra = first_round(query, searches, searcher.search(searches, fetch), steps=steps,
                                           fusion=fusion, text_of=searcher.text_of)
    second = searcher.search(extra, fetch) if extra else []
    scoped = search_scoped(searcher, scopes, steps, fetch)
    fused = seeded(fuse(query, searches, results, fusion=fusion, second_round=second,
                        feedback_weight=steps.feedback_weight, scoped=scoped, scope_weight=steps.scope_weight),
                   scoped, steps.scope_seed)
    if head := to_rerank(query, fused, steps, reranker, clued=len(searches) > 1):
        assert reranker is not None  # to_rerank checked it
        fused = reordered(fused, reranker.score(query, [searcher.text_of(h.item) for h in head]), fusion.rrf_k)
    return cut(fused, k=k, fusion=fusion, text_of=searcher.text_of, count_tokens=count_tokens)


async def arank(searcher: Searcher, query: str, clues: Clues | None, *, k: int, fusion: Fusion,
                count_tokens: Callable[[str], int], fetch_k: int | None = None,
                steps: Steps = Steps(), reranker: Reranker | None = None,
                scopes: Sequence[Scope] = ()) -> list[FusedHit]:
    """Async :func:`rank`: the searches go through the searcher's own ``asearch``, the reranker
    through its ``ascore``."""
    fetch = fetch_count(k) if fetch_k is None else check_k(fetch_k, "fetch_k")
    searches = plan_searches(query, clues)
    searches, results, extra = first_round(query, searches, await searcher.asearch(searches, fetch), steps=steps,
                                           fusion=fusion, text_of=searcher.text_of)
    second = await searcher.asearch(extra, fetch) if extra else []
    scoped = await asearch_scoped(searcher, scopes, steps, fetch)
    fused = seeded(fuse(query, searches, results, fusion=fusion, second_round=second,
                        feedback_weight=steps.feedback_weight, scoped=scoped, scope_weight=steps.scope_weight),
                   scoped, steps.scope_seed)
    if head := to_rerank(query, fused, steps, reranker, clued=len(searches) > 1):
        assert reranker is not None
        texts = [searcher.text_of(h.item) for h in head]
        fused = reordered(fused, await reranker.ascore(query, texts), fusion.rrf_k)
    return cut(fused, k=k, fusion=fusion, text_of=searcher.text_of, count_tokens=count_tokens)
