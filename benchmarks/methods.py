"""Every compared method as ``query -> ranked chunks`` over one engine's chunks, embedder and model.

All methods share the memorized engine's chunk list, FAISS index, embedder and generator, and get
the same evidence budget of ``k`` chunks; only how the query is turned into searches differs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from memorag_integrations import MemoRAG
from memorag_integrations.defaults import fetch_count
from memorag_integrations.pipeline import Steps, grounded, plan_searches, rank
from memorag_integrations.prompts import format_evidence, get_prompts
from memorag_integrations.retrieval.fusion import FusedHit
from memorag_integrations.retrieval.catalog import Scope, plan_scopes
from memorag_integrations.retrieval.rerank import QueryLikelihoodReranker, Reranker, nearest_sentences
from memorag_integrations.rounds import ROUND_PASSAGES, missing_instruction, parse_missing, with_missing
from memorag_integrations.schema import Chunk, Clues

from benchmarks import peers
from benchmarks.report import replace_text

# The ablation: each variant is the same clues (or none) under other pipeline steps, so it costs
# only searches once the memory has written the clues. ``memorag`` is the engine as configured.
VARIANTS: dict[str, tuple[str, Steps | None]] = {
    "dense": ("none", Steps()),
    "memorag": ("clues", None),  # None: the engine's own steps (the defaults)
    "memorag_draft": ("clues+draft", None),
    "memorag_plain": ("clues", Steps()),
    "memorag_grounded": ("clues", Steps(grounding=0.3)),
    "memorag_feedback": ("clues", Steps(feedback=1)),
    "memorag_grounded_feedback": ("clues", Steps(grounding=0.3, feedback=1)),
    "dense_feedback": ("none", Steps(feedback=1)),  # the second round without the memory: a control
    # The model reads the best RERANK fused candidates and scores each by the query's likelihood.
    "memorag_reranked": ("clues", Steps(grounding=0.3, rerank=10)),
    "memorag_plain_reranked": ("clues", Steps(rerank=10)),  # for a memory whose clues grounding hurts
    "dense_reranked": ("none", Steps(rerank=10)),  # the reranker without the memory's clues: a control
    "dense_reranked_r15": ("none", Steps(rerank=15)),  # the same, reading 15 candidates
    "dense_reranked_r20": ("none", Steps(rerank=20)),  # or 20
    # The catalog's scoped searches (one per source the question names, over its documents).
    # Fused only ("_scoped"), or with each scoped search's best hit (or two) first ("_seeded").
    "dense_scoped": ("none", Steps(rerank=10, scope=True, scope_seed=0)),  # the catalog without the model's clues
    "memorag_scoped": ("clues", Steps(grounding=0.3, rerank=10, scope=True, scope_seed=0)),
    "memorag_plain_scoped": ("clues", Steps(rerank=10, scope=True, scope_seed=0)),
    "dense_seeded": ("none", Steps(rerank=10, scope=True, scope_seed=1, scope_weight=1.0)),
    "dense_scoped_plain": ("none", Steps(scope=True, scope_seed=0)),  # without the reranker: the same top 10
    "dense_seeded_plain": ("none", Steps(scope=True, scope_seed=1, scope_weight=1.0)),
    "dense_seeded2_plain": ("none", Steps(scope=True, scope_seed=2, scope_weight=1.0)),
    "dense_seeded_w2_plain": ("none", Steps(scope=True, scope_seed=1, scope_weight=2.0)),
    "dense_seeded_w05_plain": ("none", Steps(scope=True, scope_seed=1, scope_weight=0.5)),
    "dense_seeded2": ("none", Steps(rerank=10, scope=True, scope_seed=2, scope_weight=1.0)),
    "memorag_seeded": ("clues", Steps(grounding=0.3, rerank=10, scope=True, scope_seed=1, scope_weight=1.0)),
    "memorag_plain_seeded": ("clues", Steps(rerank=10, scope=True, scope_seed=1, scope_weight=1.0)),
    # The defaults' scoping (seed 1, weight 0.5: chosen on dev), without and with the model's clues.
    "dense_catalog": ("none", Steps(rerank=10, scope=True)),
    "dense_catalog_plain": ("none", Steps(scope=True)),  # the same top 10 as dense_catalog
    # The reranker's depth: it reads fewer candidates (a query reads fewer tokens), or more.
    "dense_catalog_r6": ("none", Steps(rerank=6, scope=True)),
    "dense_catalog_r8": ("none", Steps(rerank=8, scope=True)),
    "dense_catalog_r15": ("none", Steps(rerank=15, scope=True)),
    "dense_catalog_r20": ("none", Steps(rerank=20, scope=True)),
    "memorag_catalog": ("clues", Steps(grounding=0.3, rerank=10, scope=True)),
    # A stronger memory's clues (e.g. replayed, --clues-from) under the defaults' other steps: every
    # clue kept, or the reranker reading 20 candidates (the clues' hits compete for its 15).
    "memorag_catalog_r15_ungrounded": ("clues", Steps(rerank=15, scope=True)),
    "memorag_catalog_r20": ("clues", Steps(grounding=0.3, rerank=20, scope=True)),
    # Deeper reading with clues only (15 without), and a stricter grounding that drops more of
    # the clues that drift from the corpus; the depth-matched memory-free controls.
    "memorag_catalog_c25": ("clues", Steps(grounding=0.3, rerank=15, rerank_with_clues=25, scope=True)),
    "memorag_catalog_c30": ("clues", Steps(grounding=0.3, rerank=15, rerank_with_clues=30, scope=True)),
    "memorag_catalog_g05": ("clues", Steps(grounding=0.5, rerank=15, rerank_with_clues=20, scope=True)),
    "dense_reranked_r25": ("none", Steps(rerank=25)),
    "dense_reranked_r30": ("none", Steps(rerank=30)),
    # Routing: the clues come from the part of the memory that holds the ROUTE documents the query
    # finds first (their own text), not from the corpus's gists (MemoRAG(route=...)).
    "memorag_routed": ("routed", Steps()),
    "memorag_routed_grounded": ("routed", Steps(grounding=0.3)),
}
# The reranker scoring after the memory of the whole corpus (QueryLikelihoodReranker(memory=...)):
# each is the named variant with that reranker in place of the passage-alone one.
MEMORY_SCORED = {"dense_catalog_r15_memscored": "dense_catalog_r15",
                 "dense_reranked_r15_memscored": "dense_reranked_r15"}
VARIANTS.update({name: VARIANTS[base] for name, base in MEMORY_SCORED.items()})
# Memory-led rounds (memorag_integrations.rounds): the variant's ranking, then the memory reads the
# best passages found and names what is missing; that search joins the clues for one more ranking.
ROUNDS = {"memorag_rounds": "memorag", "dense_catalog_r15_rounds": "dense_catalog_r15"}
VARIANTS.update({name: VARIANTS[base] for name, base in ROUNDS.items()})
# Clue scopes: each clue that names a source is also searched over that source's documents (as
# the question's clauses are), so an outlet's own claim is looked for among its articles.
CLUE_SCOPED = {"memorag_cluescoped": "memorag"}
VARIANTS.update({name: VARIANTS[base] for name, base in CLUE_SCOPED.items()})
# The clues' share of the fusion: the query weighs a fixed 8 (more than all its clues together:
# the clues only break its ties) or 1 (each clue counts as much as the query), not the default's
# as much as all its clues together.
QUERY_WEIGHTS = {"memorag_qw8": ("memorag", 8.0), "memorag_qw1": ("memorag", 1.0)}
VARIANTS.update({name: VARIANTS[base] for name, (base, _) in QUERY_WEIGHTS.items()})
# At most N chunks of one document in the top k (the rest keep their order after them), so one
# article cannot take the places of a question's other articles.
CAPS = {"memorag_cap2": ("memorag", 2), "memorag_cap3": ("memorag", 3),
        "dense_reranked_r15_cap2": ("dense_reranked_r15", 2), "dense_reranked_r15_cap3": ("dense_reranked_r15", 3),
        "dense_catalog_r15_cap2": ("dense_catalog_r15", 2), "dense_catalog_r15_cap3": ("dense_catalog_r15", 3)}
VARIANTS.update({name: VARIANTS[base] for name, (base, _) in CAPS.items()})
# The reranker also scores each candidate by each grounded clue (a statement or sub-question of
# what is sought); a candidate's best rank over the clues is fused with its rank by the question.
CLUE_SCORED = {"memorag_cluescored": "memorag"}
VARIANTS.update({name: VARIANTS[base] for name, base in CLUE_SCORED.items()})
#: Documents a routed query reads (``memorag_routed``): about 1.1k tokens of hotpot paragraphs.
ROUTE = 8
CORE_METHODS = ("dense", "memorag", "memorag_draft", "qa", "full")
ABLATION_METHODS = tuple(m for m in VARIANTS if m not in CORE_METHODS)
PEER_METHODS = ("multiquery", "hyde", "fusion")
ALL_METHODS = ("dense", "memorag", "memorag_draft", *ABLATION_METHODS, "multiquery", "hyde", "fusion", "qa", "full")
DEFAULT_METHODS = tuple(m for m in ALL_METHODS if m not in ABLATION_METHODS)
RETRIEVAL_FREE = ("qa", "full")  # they answer without a ranked chunk list
PROMPTS = get_prompts("en")


def needs_memory(method: str, *, replayed: bool = False) -> bool:
    """Whether ``method`` asks the memory anything (dense variants search the index alone, unless
    their reranker scores after the memory or the memory leads a round). ``replayed``: clues come
    from a recorded run, so a method that only searches them asks nothing either."""
    if method in (*MEMORY_SCORED, *ROUNDS):
        return True
    source = VARIANTS[method][0] if method in VARIANTS else "model"
    return source not in ("none", *(("clues",) if replayed else ()))


def per_document(hits: list[FusedHit], most: int) -> list[FusedHit]:
    """``hits`` with each document's hits after its first ``most`` moved behind all the others."""
    seen: Counter[str] = Counter()
    first: list[FusedHit] = []
    rest: list[FusedHit] = []
    for h in hits:
        seen[h.item.doc_id] += 1
        (first if seen[h.item.doc_id] <= most else rest).append(h)
    return first + rest


class ClueScored(Reranker):
    """``reranker``'s scores by the question, fused (reciprocal rank) with each candidate's best
    rank among its scores by each clue."""

    def __init__(self, reranker: RecordedScores, clues: list[str], rrf_k: int) -> None:
        self.reranker, self.clues, self.rrf_k = reranker, clues, rrf_k

    @property
    def seconds(self) -> float:  # charged as the recorded reranker's are
        return self.reranker.seconds

    @property
    def wall(self) -> float:
        return self.reranker.wall

    def score(self, query: str, texts) -> list[float]:
        by_query = ranks(self.reranker.score(query, texts))
        if not self.clues:
            return [-float(r) for r in by_query]
        by_clue = [min(r) for r in zip(*(ranks(self.reranker.score(c, texts)) for c in self.clues))]
        return [1 / (self.rrf_k + q) + 1 / (self.rrf_k + c) for q, c in zip(by_query, by_clue)]


def ranks(scores: list[float]) -> list[int]:
    """Each score's rank from 1 (the highest)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    out = [0] * len(scores)
    for r, i in enumerate(order, 1):
        out[i] = r
    return out


@dataclass
class Outcome:
    """What one method did for one query."""

    chunks: list[Chunk] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)  # searches the method wrote besides the query
    retrieval_s: float = 0.0
    answer: str | None = None  # set by methods that answer without retrieval
    note: str = ""
    model_calls: int = 0  # calls to a language model before retrieval
    memory_s: float | None = None  # the memory's share of retrieval_s: the seconds its clues took


def read_record(path: Path | None) -> dict[str, dict]:
    """A recorded file's entries (empty when there is none yet)."""
    return json.loads(path.read_text(encoding="utf-8")) if path is not None and path.is_file() else {}


def write_record(path: Path | None, entries: dict[str, dict]) -> None:
    """Replace a recorded file whole, so a run stopped mid-write leaves the old one."""
    if path is not None:
        replace_text(path, json.dumps(entries, ensure_ascii=False))


class RecordedCalls:
    """The memory's answers kept on disk beside a memorized corpus, keyed by instruction and budget.

    Decoding is greedy, so a call made again gives the same text: a second run (or another variant)
    replays it and is charged the seconds the first run measured, so the cost per query stays true.
    ``generate_many`` is the memory's own (unrecorded) :meth:`~Memory.generate_many`; calls decoded
    together share their measured seconds."""

    def __init__(self, generate_many: Callable[[list[tuple[str, int]]], list[str]], path: Path | None) -> None:
        self._generate_many, self.path = generate_many, path
        self.scope = ""  # what the memory held, when calls of several memories share one file
        self.calls: dict[str, dict] = read_record(path)
        self.seconds = 0.0  # measured or replayed seconds of every call so far

    def __call__(self, instruction: str, max_new_tokens: int = 256) -> str:
        return self.many([(instruction, max_new_tokens)])[0]

    def many(self, calls: list[tuple[str, int]]) -> list[str]:
        keys = [hashlib.sha256(f"{self.scope}{n}\0{instruction}".encode()).hexdigest() for instruction, n in calls]
        todo = [j for j, key in enumerate(keys) if key not in self.calls]
        if todo:
            t0 = time.perf_counter()
            texts = self._generate_many([calls[j] for j in todo])
            each = round((time.perf_counter() - t0) / len(todo), 3)
            for j, text in zip(todo, texts):
                self.calls[keys[j]] = {"text": text, "seconds": each}
            write_record(self.path, self.calls)
        self.seconds += sum(self.calls[key]["seconds"] for key in keys)
        return [self.calls[key]["text"] for key in keys]


class RecordedScores(Reranker):
    """A reranker's scores kept on disk, keyed by query and passage, as :class:`RecordedCalls` keeps
    the memory's answers: variants that read the same candidates share one scoring, and each is
    charged the seconds the first scoring measured."""

    def __init__(self, reranker: Reranker, path: Path | None) -> None:
        self.reranker, self.path = reranker, path
        self.scores: dict[str, dict] = read_record(path)
        self.seconds = 0.0  # measured or replayed seconds of every score so far
        self.wall = 0.0  # seconds actually spent scoring in this run

    def score(self, query: str, texts) -> list[float]:
        keys = [hashlib.sha256(f"{query}\0{text}".encode()).hexdigest() for text in texts]
        todo = list(dict.fromkeys(key for key in keys if key not in self.scores))
        if todo:
            fresh = [texts[keys.index(key)] for key in todo]
            t0 = time.perf_counter()
            values = self.reranker.score(query, fresh)
            elapsed = time.perf_counter() - t0
            self.wall += elapsed
            self.scores.update({key: {"score": v, "seconds": round(elapsed / len(todo), 4)}
                                for key, v in zip(todo, values)})
            write_record(self.path, self.scores)
        self.seconds += sum(self.scores[key]["seconds"] for key in keys)
        return [self.scores[key]["score"] for key in keys]


@dataclass(frozen=True)
class WrittenClues:
    """The searches a memory wrote for one question in a recorded run, and the seconds it took."""

    queries: list[str]
    seconds: float | None  # None: the recorded run did not measure them apart from its reranking


def recorded_clues(path: Path, method: str) -> dict[str, WrittenClues]:
    """The clues ``method`` wrote for each question of the result file at ``path``, by question.

    Another run then replays them in place of its own memory's (``--clues-from``): a stronger
    memory's clues ranked by the embedded model cost a replay, not the stronger model's hours."""
    if not path.is_file():
        raise SystemExit(f"--clues-from: no result file at {path}")
    questions = json.loads(path.read_text(encoding="utf-8")).get("questions", [])
    found = {q["question"]: q["methods"][method] for q in questions if method in q["methods"]}
    if not found:
        raise SystemExit(f"--clues-from: {path} holds no question answered by {method!r}; "
                         f"name one of its methods after a colon (FILE:METHOD)")
    # Files from before ``memory_s`` was recorded: a clue method that reranked nothing spent its
    # retrieval seconds on the clues (searching takes milliseconds); otherwise they are not known.
    return {text: WrittenClues(list(r["queries"]), r["memory_s"] if "memory_s" in r
                               else r["retrieval_s"] if r.get("model_calls") == 2 else None)
            for text, r in found.items()}


class Methods:
    """The methods over one memorized engine. ``expand_tokens`` caps what any LLM writes to expand
    a query (clues, peers' query variants, HyDE documents); ``answer_tokens`` caps answers;
    ``rerank_sentences``: how many sentences of each candidate the reranker reads (None: all).
    ``calls`` (a file) keeps the memory's answers so that a second run does not write them again.
    ``clues`` (from :func:`recorded_clues`) replaces the memory's clues by those another run wrote;
    ``scorer`` (a generator that scores text, named ``scorer_name``) is the reranker's model in place
    of the engine's generator."""

    def __init__(self, engine: MemoRAG, k: int, *, expand_tokens: int, answer_tokens: int,
                 calls: Path | None = None, rerank_sentences: int | None = None,
                 clues: dict[str, WrittenClues] | None = None, scorer=None, scorer_name: str = "") -> None:
        self.engine, self.k = engine, k
        self.clues = clues
        self.expand_tokens, self.answer_tokens = expand_tokens, answer_tokens
        engine.clue_tokens = expand_tokens
        self.memory_calls = RecordedCalls(engine.memory.generate_many, calls)
        engine.memory.generate_many = self.memory_calls.many  # type: ignore[method-assign]
        self.routed_calls = RecordedCalls(engine.memory.generate_many, calls and calls.with_suffix(".routed.json"))
        generator = engine.generator  # the corpus's cache folder is one model's, so are its answers
        self.answer_calls = RecordedCalls(lambda asked: [generator.generate(p, n) for p, n in asked],
                                          calls and calls.with_suffix(".answers.json"))
        # The scores are recorded by passage, so a reader of other sentences (or another model) records elsewhere.
        scores = calls and calls.with_suffix(f".{rerank_sentences}-sentences.scores.json" if rerank_sentences
                                             else ".scores.json")
        if scores and scorer is not None:
            scores = scores.with_name(scores.name.replace(".scores.json", f".{scorer_name}.scores.json"))
        self.reranker = RecordedScores(QueryLikelihoodReranker(scorer or engine.generator, sentences=rerank_sentences,
                                                               encode=engine.retriever.embedder.encode), scores)
        self.memory_reranker = RecordedScores(
            QueryLikelihoodReranker(engine.generator, sentences=rerank_sentences,
                                    encode=engine.retriever.embedder.encode, memory=engine.memory),
            scores and scores.with_name(scores.name.replace(".scores.json", ".memory-scores.json")))
        self._expansions: dict[str, tuple[Clues, float]] = {}
        self._drafts: dict[str, tuple[str, float]] = {}
        self._routed: dict[str, tuple[Clues, float]] = {}
        self._peers: dict[str, object] = {}

    def run(self, name: str, query: str) -> Outcome:
        if name in VARIANTS:
            return self.variant(name, query)
        handlers: dict[str, Callable[[str], Outcome]] = {
            "qa": self.qa, "full": self.full, "multiquery": self.multiquery, "hyde": self.hyde, "fusion": self.fusion,
        }
        return handlers[name](query)

    # -- core ------------------------------------------------------------------------------------
    def variant(self, name: str, query: str) -> Outcome:
        """``query`` with the clues the variant uses, ranked under its pipeline steps."""
        source, steps = VARIANTS[name]
        clues, spent, calls, memory_s = Clues(), 0.0, 0, None
        if source == "routed":
            clues, spent = self._routed_expansion(query)
            calls = 2
        elif source != "none":
            clues, spent = self._expansion(query)
            calls = 2
            memory_s = spent
            if source == "clues+draft":
                draft, draft_s = self._draft(query)
                clues = Clues(clues.spans, clues.surrogate_questions, draft or None)
                spent, calls = spent + draft_s, 3
                memory_s = spent
        steps = steps or self.engine.steps
        reranker = self.memory_reranker if name in MEMORY_SCORED else self.reranker
        if name in CLUE_SCORED:
            reranker = ClueScored(reranker, self._grounded_clues(query, clues, steps), self.engine.fusion.rrf_k)
        t0, charged, scoring = time.perf_counter(), reranker.seconds, reranker.wall
        fusion = self.engine.fusion
        if name in QUERY_WEIGHTS:
            fusion = replace(fusion, query_weight=QUERY_WEIGHTS[name][1])
        hits = rank(self.engine.retriever, query, clues, k=self.k * (4 if name in CAPS else 1), fusion=fusion,
                    count_tokens=self.engine.generator.count_tokens, steps=steps, reranker=reranker,
                    scopes=self._scopes(name, query, clues), fetch_k=fetch_count(self.k))
        if name in CAPS:
            hits = per_document(hits, CAPS[name][1])[:self.k]
        replayed = 0.0
        if name in ROUNDS:
            before = clues
            hits, clues, replayed = self._round(query, clues, hits, steps, reranker)
            calls += 1 + (1 if steps.rerank and clues is not before else 0)  # a search to rank again, or NONE
        # The scoring is charged what it measured when first done, as the memory's calls are.
        spent += time.perf_counter() - t0 - (reranker.wall - scoring) + (reranker.seconds - charged) + replayed
        calls += 1 if steps.rerank else 0
        if isinstance(reranker, ClueScored) and steps.rerank:
            calls += len(reranker.clues)  # one scoring of the candidates by each clue
        note = ("replayed clues: their seconds were not recorded" if source == "clues" and self.clues is not None
                and self.clues[query].seconds is None else "")
        return Outcome([h.item for h in hits], clues.queries(), spent, model_calls=calls, memory_s=memory_s,
                       note=note)

    def _grounded_clues(self, query: str, clues: Clues, steps: Steps) -> list[str]:
        """The clues that grounding keeps, as the pipeline keeps them."""
        searches = plan_searches(query, clues)
        retriever = self.engine.retriever
        kept, _ = grounded(query, searches, retriever.search(searches, fetch_count(self.k)), steps.grounding,
                           retriever.text_of)
        return [q for q in kept if q != query.strip()]

    def _scopes(self, name: str, query: str, clues: Clues) -> list[Scope]:
        """The catalog's scoped searches for ``query``, and for each clue too in CLUE_SCOPED variants."""
        asked = [query, *(clues.queries() if name in CLUE_SCOPED else [])]
        return list(dict.fromkeys(s for text in asked for s in plan_scopes(self.engine.catalog, text)))

    def _round(self, query: str, clues: Clues, hits: list, steps: Steps,
               reranker: Reranker) -> tuple[list, Clues, float]:
        """One memory-led round after ``hits``: the memory's search for what is missing joins the
        clues and the query is ranked again (the same hits where the memory says nothing is missing).
        Also returns the seconds to charge beyond the clock: the memory's call is recorded, and a
        replayed call is charged what it first measured, as the clues' calls are."""
        passages = nearest_sentences(query, [h.item.text for h in hits[:ROUND_PASSAGES]], 2,
                                     self.engine.retriever.embedder.encode)
        wall, charged = time.perf_counter(), self.memory_calls.seconds
        output = self.memory_calls(missing_instruction(query, passages, PROMPTS), self.expand_tokens)
        replayed = (self.memory_calls.seconds - charged) - (time.perf_counter() - wall)
        missing = parse_missing(output, query)
        if missing is None:
            return hits, clues, replayed
        clues = with_missing(clues, missing)
        return rank(self.engine.retriever, query, clues, k=self.k, fusion=self.engine.fusion,
                    count_tokens=self.engine.generator.count_tokens, steps=steps, reranker=reranker,
                    scopes=plan_scopes(self.engine.catalog, query)), clues, replayed

    def _expansion(self, query: str) -> tuple[Clues, float]:
        """Clues (spans + surrogate questions), written once per query and shared by every variant;
        with recorded clues, those the other run's memory wrote (searched alike: plan_searches)."""
        if self.clues is not None:
            if query not in self.clues:
                raise SystemExit(f"--clues-from: the recorded run did not ask {query[:80]!r}; "
                                 "replay a run of the same suite and split")
            written = self.clues[query]
            return Clues(list(written.queries)), written.seconds or 0.0
        if query not in self._expansions:
            t0 = self.memory_calls.seconds
            clues = self.engine.expand(query)
            self._expansions[query] = (clues, self.memory_calls.seconds - t0)
        return self._expansions[query]

    def _draft(self, query: str) -> tuple[str, float]:
        """The memory's draft answer, written once per query when a method needs it (the draft
        variant, and ``qa``, whose answer it is)."""
        if query not in self._drafts:
            t0 = self.memory_calls.seconds
            draft = self.memory_calls(PROMPTS.memory_answer.format(query=query), self.expand_tokens)
            self._drafts[query] = (draft.strip(), self.memory_calls.seconds - t0)
        return self._drafts[query]

    def _routed_expansion(self, query: str) -> tuple[Clues, float]:
        """Clues from the part of the memory that holds the :data:`ROUTE` documents the query finds
        first; its seconds include reading that part (measured every run) and its recorded calls."""
        if query not in self._routed:
            engine = self.engine
            saved, engine.route = engine.route, ROUTE
            try:
                t0 = time.perf_counter()
                part = engine.memory_for(engine.routed(query))
                read_s = time.perf_counter() - t0
                if part is not None and part is not engine.memory:
                    own = type(part).generate_many.__get__(part)  # not the corpus memory's recorded calls
                    self.routed_calls._generate_many = own
                    self.routed_calls.scope = hashlib.sha256((part.context or "").encode()).hexdigest()
                    part.generate_many = self.routed_calls.many  # type: ignore[method-assign]
                s0 = self.routed_calls.seconds
                clues = engine.expand(query)
                spent = read_s + self.routed_calls.seconds - s0
            finally:
                engine.route = saved
            self._routed[query] = (clues, spent)
        return self._routed[query]

    def qa(self, query: str) -> Outcome:
        draft, draft_s = self._draft(query)
        return Outcome(answer=draft, retrieval_s=draft_s, model_calls=1)

    def full(self, query: str) -> Outcome:
        """The whole corpus as the only passage, when it fits the generator's window."""
        text = "\n\n".join(d.text for d in self.engine.documents)
        generator = self.engine.generator
        room = generator.context_window - self.answer_tokens - 256
        if generator.count_tokens(text) > room:
            return Outcome(note="does not fit the window")
        t0 = time.perf_counter()
        answer = generator.generate(PROMPTS.answer.format(evidence=format_evidence([text], PROMPTS), query=query),
                                    self.answer_tokens)
        return Outcome(answer=answer.strip(), retrieval_s=time.perf_counter() - t0)

    # -- peers -----------------------------------------------------------------------------------
    def _chunk(self, chunk_id: int) -> Chunk:
        return self.engine.retriever.chunks[int(chunk_id)]

    def multiquery(self, query: str) -> Outcome:
        """LangChain's MultiQueryRetriever (original query included), its union cut to ``k``."""
        if "multiquery" not in self._peers:
            from langchain_classic.retrievers.multi_query import MultiQueryRetriever

            base = peers.langchain_retriever(self.engine.retriever, self.k)
            llm = peers.langchain_chat_model(self.engine.generator, self.expand_tokens)
            self._peers["multiquery"] = MultiQueryRetriever.from_llm(retriever=base, llm=llm, include_original=True)
        retriever = self._peers["multiquery"]
        retriever.retriever.seen.clear()
        t0 = time.perf_counter()
        docs = retriever.invoke(query)[: self.k]
        elapsed = time.perf_counter() - t0
        written = [q for q in retriever.retriever.seen if q != query]
        return Outcome([self._chunk(d.metadata[peers.CHUNK_ID]) for d in docs], written, elapsed, model_calls=1)

    def hyde(self, query: str) -> Outcome:
        """LlamaIndex's HyDEQueryTransform; its embedding strings are averaged as LlamaIndex's
        vector retriever does, then searched in the shared index."""
        if "hyde" not in self._peers:
            from llama_index.core.indices.query.query_transform.base import HyDEQueryTransform

            llm = peers.llamaindex_llm(self.engine.generator, self.expand_tokens)
            self._peers["hyde"] = HyDEQueryTransform(llm=llm, include_original=True)
        t0 = time.perf_counter()
        bundle = self._peers["hyde"].run(query)
        strings = list(bundle.embedding_strs)
        vectors = self.engine.retriever.embedder.encode(strings)
        mean = vectors.mean(axis=0, keepdims=True)
        mean = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        _, ids = self.engine.retriever.index.search(mean, self.k)
        chunks = [self._chunk(i) for i in ids[0] if i >= 0]
        return Outcome(chunks, [s for s in strings if s != query], time.perf_counter() - t0, model_calls=1)

    def fusion(self, query: str) -> Outcome:
        """LlamaIndex's QueryFusionRetriever: 3 generated queries + the original, reciprocal-rank fused."""
        if "fusion" not in self._peers:
            from llama_index.core.retrievers import QueryFusionRetriever

            base = peers.llamaindex_retriever(self.engine.retriever, self.k)
            llm = peers.llamaindex_llm(self.engine.generator, self.expand_tokens)
            self._peers["fusion"] = (base, QueryFusionRetriever([base], llm=llm, mode="reciprocal_rerank",
                                                                similarity_top_k=self.k, num_queries=4,
                                                                use_async=False))
        base, retriever = self._peers["fusion"]
        base.seen.clear()
        t0 = time.perf_counter()
        nodes = retriever.retrieve(query)[: self.k]
        elapsed = time.perf_counter() - t0
        return Outcome([self._chunk(n.node.metadata[peers.CHUNK_ID]) for n in nodes],
                       [q for q in base.seen if q != query], elapsed, model_calls=1)

    # -- answers ---------------------------------------------------------------------------------
    def extractive_answer(self, query: str, chunks: list[Chunk]) -> str:
        """The evidence's sentences that best answer ``query``, quoted (``answer_mode="extractive"``)."""
        from memorag_integrations.extractive import answer_quotes, candidates, render
        from memorag_integrations.schema import Evidence

        evidence = [Evidence(c.text, 0.0, c.doc_id, (c.start, c.end)) for c in chunks]
        texts = {str(d.doc_id): d.text for d in self.engine.documents}
        return render(answer_quotes(query, candidates(evidence, texts), self.engine.retriever.embedder.encode))

    def answer(self, query: str, chunks: list[Chunk]) -> tuple[str, float]:
        """The shared generator's answer from the given chunks (the same prompt for every method),
        and its seconds: recorded, so a run stopped and started again answers only new evidence."""
        prompt = PROMPTS.answer.format(evidence=format_evidence([c.text for c in chunks], PROMPTS), query=query)
        spent = self.answer_calls.seconds
        return self.answer_calls(prompt, self.answer_tokens).strip(), self.answer_calls.seconds - spent
