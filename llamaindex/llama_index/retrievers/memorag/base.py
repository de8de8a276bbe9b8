"""MemoRAGRetriever: the memory expands the query, every clue searches the user's index, RRF fuses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import llama_index.core.instrumentation as instrument
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import BasePydanticVectorStore

from memorag_integrations.engine import MemoRAG
from memorag_integrations.memory.base import Memory
from memorag_integrations.retrieval.fusion import cut_to_budget, query_weights, reciprocal_rank_fusion
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.schema import Clues
from llama_index.retrievers.memorag.defaults import as_memory, resolve_embed_model
from llama_index.retrievers.memorag.embedding import core_embedder
from llama_index.retrievers.memorag.events import MemoRAGCluesEvent
from llama_index.retrievers.memorag.nodes import MATCHED_QUERIES, chunk_nodes, to_core_documents

dispatcher = instrument.get_dispatcher(__name__)


@dataclass
class MemoRAGQueryBundle(QueryBundle):
    """A query bundle that carries the clues: given ones are used as they are (the memory is
    not asked again), and the retriever fills in the ones it wrote and its timings (seconds)."""

    clues: Clues | None = None
    timings: dict[str, float] = field(default_factory=dict)


class MemoRAGRetriever(BaseRetriever):
    """Memory-expanded retrieval over any LlamaIndex retriever or ``VectorStoreIndex``.

    ``engine`` is the core :class:`~memorag_integrations.engine.MemoRAG` whose memory has read the
    corpus (its settings ``k``, ``query_weight``, ``rrf_k``, ``token_budget`` and ``use_draft``
    apply); ``index`` is where the chunks live (any vector store). For each query the memory writes
    clue spans and surrogate questions; the query and each clue search ``index`` (top
    ``per_query_top_k`` each), and weighted reciprocal-rank fusion keeps the best
    ``similarity_top_k``. Each returned node's ``metadata["matched_queries"]`` lists the queries
    that found it; its score is the fused score.
    """

    def __init__(self, engine: MemoRAG, index: VectorStoreIndex | BaseRetriever, *,
                 similarity_top_k: int | None = None, per_query_top_k: int | None = None,
                 callback_manager: CallbackManager | None = None, verbose: bool = False) -> None:
        super().__init__(callback_manager=callback_manager, verbose=verbose)
        self.engine = engine
        self.similarity_top_k = similarity_top_k or engine.k
        self.per_query_top_k = per_query_top_k or max(2 * self.similarity_top_k, 10)
        if isinstance(index, BaseRetriever):
            self.index, self.base_retriever = None, index
        else:
            self.index, self.base_retriever = index, index.as_retriever(similarity_top_k=self.per_query_top_k)

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Any] | Any,
        *,
        memory: Memory | LLM | None = None,
        embed_model: BaseEmbedding | None = None,
        index: VectorStoreIndex | None = None,
        vector_store: BasePydanticVectorStore | None = None,
        storage_context: StorageContext | None = None,
        chunk_tokens: int = 200,
        chunk_overlap: int = 24,
        similarity_top_k: int | None = None,
        per_query_top_k: int | None = None,
        show_progress: bool = False,
        **engine_options: Any,
    ) -> MemoRAGRetriever:
        """Memorize ``documents`` and index their chunks, in one call.

        ``memory``: a core memory, a LlamaIndex LLM (read through a prompt memory) or None (the
        embedded local model). The chunks go into ``index`` when given, else into a new
        ``VectorStoreIndex`` over ``vector_store`` / ``storage_context`` (default: the simple
        in-memory store) with ``embed_model`` (default: ``Settings.embed_model`` if set, else the
        offline MiniLM). ``engine_options`` go to the core engine (``k``, ``use_draft``,
        ``query_weight``, ``token_budget``, ``clue_tokens``, ``answer_tokens``...).
        """
        docs = to_core_documents(documents)
        memory = as_memory(memory)  # checked before any model is loaded
        if index is not None and embed_model is None:
            embed_model = getattr(index, "_embed_model", None)
        embed_model = resolve_embed_model(embed_model)
        chunker = DenseRetriever(core_embedder(embed_model), chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap)
        # The core engine lends its memory, expansion and fusion settings; its own dense index
        # stays empty because the chunks live in the LlamaIndex vector store.
        engine = MemoRAG(memory, chunker, progress=show_progress, **engine_options)
        engine.memory.memorize(docs, progress=show_progress)
        engine.documents = docs
        nodes = chunk_nodes(docs, chunker)
        if index is None:
            if storage_context is None and vector_store is not None:
                storage_context = StorageContext.from_defaults(vector_store=vector_store)
            index = VectorStoreIndex(nodes, storage_context=storage_context, embed_model=embed_model,
                                     show_progress=show_progress)
        else:
            index.insert_nodes(nodes)
        return cls(engine, index, similarity_top_k=similarity_top_k, per_query_top_k=per_query_top_k)

    # -- expansion -------------------------------------------------------------------------------
    def expand(self, query: str) -> Clues:
        """What the memory writes for ``query``: clue spans, surrogate questions, draft."""
        return self.engine.expand(query)

    async def aexpand(self, query: str) -> Clues:
        return await self.engine.aexpand(query)

    def queries(self, query: str, clues: Clues) -> list[str]:
        """The query and every clue, each once: the searches one retrieval runs."""
        return list(dict.fromkeys(q.strip() for q in [query, *clues.queries()] if q and q.strip()))

    # -- retrieval -------------------------------------------------------------------------------
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        t0 = time.perf_counter()
        clues = getattr(query_bundle, "clues", None) or self.expand(query_bundle.query_str)
        t1 = time.perf_counter()
        dispatcher.event(MemoRAGCluesEvent.from_clues(query_bundle.query_str, clues))
        queries = self.queries(query_bundle.query_str, clues)
        rankings = [self.base_retriever.retrieve(q) for q in queries]
        nodes = self._fuse(query_bundle.query_str, queries, rankings)
        self._record(query_bundle, clues, t0, t1)
        return nodes

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        t0 = time.perf_counter()
        clues = getattr(query_bundle, "clues", None) or await self.aexpand(query_bundle.query_str)
        t1 = time.perf_counter()
        dispatcher.event(MemoRAGCluesEvent.from_clues(query_bundle.query_str, clues))
        queries = self.queries(query_bundle.query_str, clues)
        rankings = await asyncio.gather(*(self.base_retriever.aretrieve(q) for q in queries))
        nodes = self._fuse(query_bundle.query_str, queries, list(rankings))
        self._record(query_bundle, clues, t0, t1)
        return nodes

    def _fuse(self, query: str, queries: Sequence[str],
              rankings: Sequence[Sequence[NodeWithScore]]) -> list[NodeWithScore]:
        engine = self.engine
        ranked = [(q, [(n.node.node_id, n.node, n.score or 0.0) for n in hits]) for q, hits in zip(queries, rankings)]
        fused = reciprocal_rank_fusion(ranked, weights=query_weights(queries, query.strip(), engine.query_weight),
                                       rrf_k=engine.rrf_k)
        kept = cut_to_budget(fused, k=self.similarity_top_k, token_budget=engine.token_budget,
                             count_tokens=lambda h: engine.generator.count_tokens(h.item.get_content()))
        return [NodeWithScore(node=_with_matches(h.item, h.matched_queries), score=h.score) for h in kept]

    @staticmethod
    def _record(query_bundle: QueryBundle, clues: Clues, t0: float, t1: float) -> None:
        if isinstance(query_bundle, MemoRAGQueryBundle):
            query_bundle.clues = clues
            query_bundle.timings.setdefault("expand", t1 - t0)
            query_bundle.timings["retrieve"] = time.perf_counter() - t1


def _with_matches(node: BaseNode, matched: list[str]) -> BaseNode:
    """A copy of ``node`` that says which queries found it (the stored node is left alone)."""
    return node.model_copy(update={
        "metadata": {**node.metadata, MATCHED_QUERIES: list(matched)},
        "excluded_embed_metadata_keys": [*node.excluded_embed_metadata_keys, MATCHED_QUERIES],
        "excluded_llm_metadata_keys": [*node.excluded_llm_metadata_keys, MATCHED_QUERIES],
    })
