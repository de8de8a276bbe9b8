"""Every compared method as ``query -> ranked chunks`` over one engine's chunks, embedder and model.

All methods share the memorized engine's chunk list, FAISS index, embedder and generator, and get
the same evidence budget of ``k`` chunks; only how the query is turned into searches differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from memorag_integrations import MemoRAG
from memorag_integrations.prompts import format_evidence, get_prompts
from memorag_integrations.schema import Chunk, Clues

from benchmarks import peers

CORE_METHODS = ("dense", "memorag", "memorag_draft", "qa", "full")
PEER_METHODS = ("multiquery", "hyde", "fusion")
ALL_METHODS = ("dense", "memorag", "memorag_draft", "multiquery", "hyde", "fusion", "qa", "full")
RETRIEVAL_FREE = ("qa", "full")  # they answer without a ranked chunk list
PROMPTS = get_prompts("en")


@dataclass
class Outcome:
    """What one method did for one query."""

    chunks: list[Chunk] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)  # searches the method wrote besides the query
    retrieval_s: float = 0.0
    answer: str | None = None  # set by methods that answer without retrieval
    note: str = ""


class Methods:
    """The methods over one memorized engine. ``expand_tokens`` caps what any LLM writes to expand
    a query (clues, peers' query variants, HyDE documents); ``answer_tokens`` caps answers."""

    def __init__(self, engine: MemoRAG, k: int, *, expand_tokens: int, answer_tokens: int) -> None:
        self.engine, self.k = engine, k
        self.expand_tokens, self.answer_tokens = expand_tokens, answer_tokens
        engine.clue_tokens = expand_tokens
        self._expansions: dict[str, tuple[Clues, float, str, float]] = {}
        self._peers: dict[str, object] = {}

    def run(self, name: str, query: str) -> Outcome:
        handlers: dict[str, Callable[[str], Outcome]] = {
            "dense": self.dense, "memorag": self.memorag, "memorag_draft": self.memorag_draft, "qa": self.qa,
            "full": self.full, "multiquery": self.multiquery, "hyde": self.hyde, "fusion": self.fusion,
        }
        return handlers[name](query)

    # -- core ------------------------------------------------------------------------------------
    def _ranked(self, query: str, clues: Clues) -> list[Chunk]:
        chunks = self.engine.retriever.chunks
        return [chunks[e.chunk_id] for e in self.engine.retrieve(query, self.k, clues=clues)]

    def dense(self, query: str) -> Outcome:
        t0 = time.perf_counter()
        chunks = self._ranked(query, Clues())
        return Outcome(chunks, [], time.perf_counter() - t0)

    def _expansion(self, query: str) -> tuple[Clues, float, str, float]:
        """Clues (spans + surrogate questions) and the memory's draft answer, written once per query
        and shared by ``memorag``, ``memorag_draft`` and ``qa`` (the draft is the memory-only answer)."""
        if query not in self._expansions:
            t0 = time.perf_counter()
            clues = self.engine.expand(query)
            t1 = time.perf_counter()
            draft = self.engine.memory.generate(PROMPTS.memory_answer.format(query=query), self.expand_tokens)
            self._expansions[query] = (clues, t1 - t0, draft.strip(), time.perf_counter() - t1)
        return self._expansions[query]

    def memorag(self, query: str) -> Outcome:
        clues, expand_s, _, _ = self._expansion(query)
        t0 = time.perf_counter()
        chunks = self._ranked(query, clues)
        return Outcome(chunks, clues.queries(), expand_s + time.perf_counter() - t0)

    def memorag_draft(self, query: str) -> Outcome:
        clues, expand_s, draft, draft_s = self._expansion(query)
        full = Clues(clues.spans, clues.surrogate_questions, draft or None)
        t0 = time.perf_counter()
        chunks = self._ranked(query, full)
        return Outcome(chunks, full.queries(), expand_s + draft_s + time.perf_counter() - t0)

    def qa(self, query: str) -> Outcome:
        _, _, draft, draft_s = self._expansion(query)
        return Outcome(answer=draft, retrieval_s=draft_s)

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
        return Outcome([self._chunk(d.metadata[peers.CHUNK_ID]) for d in docs], written, elapsed)

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
        return Outcome(chunks, [s for s in strings if s != query], time.perf_counter() - t0)

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
                       [q for q in base.seen if q != query], elapsed)

    # -- answers ---------------------------------------------------------------------------------
    def answer(self, query: str, chunks: list[Chunk]) -> str:
        """The shared generator's answer from the given chunks (the same prompt for every method)."""
        prompt = PROMPTS.answer.format(evidence=format_evidence([c.text for c in chunks], PROMPTS), query=query)
        return self.engine.generator.generate(prompt, self.answer_tokens).strip()
