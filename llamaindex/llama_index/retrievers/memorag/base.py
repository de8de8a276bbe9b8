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
from llama_index.core.vector_stores.types import BasePydanticVectorStore, MetadataFilters

from memorag_integrations.defaults import CHUNK_OVERLAP, CHUNK_TOKENS, fetch_count
from memorag_integrations.engine import MemoRAG
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.filters import metadata_matches
from memorag_integrations.memory.base import Memory
from memorag_integrations.pipeline import check_k, plan_searches
from memorag_integrations.retrieval.fusion import FusedHit
from memorag_integrations.retrieval.index import check_store_dimension
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.retrieval.search import Hit, Searcher
from memorag_integrations.schema import Clues
from llama_index.retrievers.memorag.defaults import as_memory, resolve_embed_model
from llama_index.retrievers.memorag.embedding import core_embedder
from llama_index.retrievers.memorag.events import MemoRAGCluesEvent
from llama_index.retrievers.memorag.filters import metadata_where
from llama_index.retrievers.memorag.nodes import MATCHED_QUERIES, RERANK_SCORE, chunk_nodes, to_core_documents

dispatcher = instrument.get_dispatcher(__name__)


@dataclass
class MemoRAGQueryBundle(QueryBundle):
    """A query bundle that carries the clues: given ones are used as they are (the memory is
    not asked again), and the retriever fills in the ones it wrote and its timings (seconds)."""

    clues: Clues | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: Whether the memory was asked already: its clues may be None (it writes none by default for
    #: the embedded model), and it is not asked again.
    asked: bool = False


class RetrieverSearcher(Searcher):
    """A LlamaIndex retriever as the core's searcher: one ``retrieve`` / ``aretrieve`` per query
    (so its own callbacks and instrumentation see every search). It returns its own top-k."""

    def __init__(self, retriever: BaseRetriever) -> None:
        self.retriever = retriever

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        return [_hits(self.retriever.retrieve(q)) for q in queries]

    async def asearch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        results = await asyncio.gather(*(self.retriever.aretrieve(q) for q in queries))
        return [_hits(r) for r in results]

    def text_of(self, item: BaseNode) -> str:
        return item.get_content()


def _hits(nodes: Sequence[NodeWithScore]) -> list[Hit]:
    return [Hit(n.node.node_id, n.node, n.score or 0.0) for n in nodes]


class MemoRAGRetriever(BaseRetriever):
    """Memory-expanded retrieval over any LlamaIndex retriever or ``VectorStoreIndex``.

    ``engine`` is the core :class:`~memorag_integrations.engine.MemoRAG` whose memory has read the
    corpus (its settings ``k``, ``query_weight``, ``rrf_k``, ``token_budget`` and ``use_draft``
    apply); ``index`` is where the chunks live (any vector store). For each query the memory writes
    clue spans and surrogate questions; the query and each clue search ``index`` (top
    ``per_query_top_k`` each), and weighted reciprocal-rank fusion keeps the best
    ``similarity_top_k``. Each returned node's ``metadata["matched_queries"]`` lists the queries
    that found it; its score is the fused score.

    ``filters`` (``MetadataFilters`` over the source documents' metadata, ``doc_id`` included) keep
    to some documents: the index's retriever searches with them, and the memory's clues come from
    the part of the memory that holds the documents they match.
    """

    def __init__(self, engine: MemoRAG, index: VectorStoreIndex | BaseRetriever, *,
                 similarity_top_k: int | None = None, per_query_top_k: int | None = None,
                 filters: MetadataFilters | None = None,
                 callback_manager: CallbackManager | None = None, verbose: bool = False) -> None:
        super().__init__(callback_manager=callback_manager, verbose=verbose)
        self.engine = engine
        self.similarity_top_k = engine.k if similarity_top_k is None else check_k(similarity_top_k,
                                                                                "similarity_top_k")
        self.per_query_top_k = (fetch_count(self.similarity_top_k) if per_query_top_k is None
                                else check_k(per_query_top_k, "per_query_top_k"))
        if filters is not None and not isinstance(filters, MetadataFilters):
            raise InvalidInputError(f"filters must be llama_index MetadataFilters, got {type(filters).__name__}")
        self.filters = filters
        self.where = None if filters is None else metadata_where(filters)  # unsupported operators fail here
        if isinstance(index, BaseRetriever):
            if filters is not None:
                raise InvalidInputError("filters go to a VectorStoreIndex's retriever; a given retriever is searched "
                                        "as it is: build it with the filters, or pass the index")
            self.index, self.base_retriever = None, index
        elif isinstance(index, VectorStoreIndex):
            self.index = index
            self._search_index(index)
        else:
            raise InvalidInputError(f"index must be a VectorStoreIndex or a LlamaIndex retriever, not "
                                    f"{type(index).__name__}")
        self.searcher = RetrieverSearcher(self.base_retriever)

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
        chunk_tokens: int = CHUNK_TOKENS,
        chunk_overlap: int = CHUNK_OVERLAP,
        similarity_top_k: int | None = None,
        per_query_top_k: int | None = None,
        filters: MetadataFilters | None = None,
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
        for name, value in (("similarity_top_k", similarity_top_k), ("per_query_top_k", per_query_top_k)):
            if value is not None:
                check_k(value, name)
        if index is not None and embed_model is None:
            embed_model = getattr(index, "_embed_model", None)
        embed_model = resolve_embed_model(embed_model)
        target = index.vector_store if index is not None else (
            vector_store if vector_store is not None else getattr(storage_context, "vector_store", None))
        check_dimensions(target, embed_model)  # before the long read, not after it
        # The engine knows the embedder and the chunking (for saving); the chunks live in the
        # LlamaIndex vector store, not in the engine's own index.
        chunking = DenseRetriever(core_embedder(embed_model), chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap)
        engine = MemoRAG(memory, chunking, progress=show_progress, **engine_options)
        engine.memorize(docs, index=False)
        nodes = chunk_nodes(engine.documents, engine.chunks())
        if index is None:
            if storage_context is None and vector_store is not None:
                storage_context = StorageContext.from_defaults(vector_store=vector_store)
            index = VectorStoreIndex(nodes, storage_context=storage_context, embed_model=embed_model,
                                     show_progress=show_progress)
        else:
            index.insert_nodes(nodes)
        return cls(engine, index, similarity_top_k=similarity_top_k, per_query_top_k=per_query_top_k,
                   filters=filters)

    @classmethod
    def from_defaults(cls, documents: Iterable[Any] | Any | None = None, *, engine: MemoRAG | None = None,
                      index: VectorStoreIndex | BaseRetriever | None = None, **options: Any) -> MemoRAGRetriever:
        """The LlamaIndex-style constructor: over an ``engine`` that has memorized its corpus and the
        ``index`` (or retriever) holding its chunks, or, with ``documents``, memorizing them as
        :meth:`from_documents` does (``options`` are its options)."""
        if documents is not None:
            if engine is not None:
                raise InvalidInputError("pass documents (to memorize) or engine (memorized already), not both")
            if index is not None and not isinstance(index, VectorStoreIndex):
                raise InvalidInputError("documents are indexed into a VectorStoreIndex: pass index=VectorStoreIndex")
            return cls.from_documents(documents, index=index, **options)
        if engine is None or index is None:
            raise InvalidInputError("pass documents=..., or both engine=... (a memorized MemoRAG) and index=...")
        return cls(engine, index, **options)

    # -- a corpus that changes ------------------------------------------------------------------
    def insert(self, document: Any) -> None:
        """Add a document (LlamaIndex, core or text): the memory takes it in (other gists come from
        the cache) and its chunk nodes go into the index."""
        docs = to_core_documents(document)
        index = self._own_index("insert")
        self.engine.add(docs)
        index.insert_nodes(chunk_nodes(self.engine.documents, self.engine.retriever.chunker.chunk(docs)))
        self._search_index(index)

    def delete_ref_doc(self, ref_doc_id: str) -> None:
        """Remove a document: its nodes leave the index, and the memory is rebuilt without it."""
        index = self._own_index("delete_ref_doc")
        self.engine.delete(ref_doc_id)
        index.delete_ref_doc(ref_doc_id, delete_from_docstore=True)
        self._search_index(index)

    def update_ref_doc(self, document: Any) -> None:
        """Replace the document of the same id: only its nodes are embedded again."""
        (doc,) = to_core_documents(document)
        index = self._own_index("update_ref_doc")
        self.engine.update(doc)
        index.delete_ref_doc(str(doc.doc_id), delete_from_docstore=True)
        index.insert_nodes(chunk_nodes(self.engine.documents, self.engine.retriever.chunker.chunk([doc])))
        self._search_index(index)

    def _search_index(self, index: VectorStoreIndex) -> None:
        """Search ``index`` as it is now: a vector index retriever keeps the node ids it was made with."""
        self.base_retriever = index.as_retriever(similarity_top_k=self.per_query_top_k, filters=self.filters)
        self.searcher = RetrieverSearcher(self.base_retriever)

    def _own_index(self, what: str) -> VectorStoreIndex:
        if self.index is None:
            raise InvalidInputError(f"{what} needs the VectorStoreIndex the chunks live in; this retriever searches a "
                                    "plain retriever, whose store it cannot change")
        return self.index

    # -- filters ---------------------------------------------------------------------------------
    def doc_ids(self) -> list[str] | None:
        """The ids of the source documents the filters match (None without filters)."""
        if self.where is None:
            return None
        where = self.where
        documents = self.engine.select(where=lambda d: metadata_matches({**d.metadata, "doc_id": d.doc_id}, where))
        return [str(d.doc_id) for d in documents or []]

    def memory(self) -> Memory | None:
        """The memory a query asks: the engine's, or the filtered documents' part of it (None when
        the filters match no document)."""
        doc_ids = self.doc_ids()
        return self.engine.memory_for(None if doc_ids is None else self.engine.select(doc_ids))

    # -- expansion -------------------------------------------------------------------------------
    def expand(self, query: str, task: str = "memorag") -> Clues | None:
        """What the memory (its filtered part) writes for ``query``: clue spans, surrogate
        questions, draft; key points for ``task="summarize"``. None when the filters match nothing."""
        return self.engine.clues(query, task, doc_ids=self.doc_ids())

    async def aexpand(self, query: str, task: str = "memorag") -> Clues | None:
        return await self.engine.aclues(query, task, doc_ids=self.doc_ids())

    def queries(self, query: str, clues: Clues | None) -> list[str]:
        """The query and every clue, each once: the searches one retrieval runs."""
        return plan_searches(query, clues)

    # -- retrieval -------------------------------------------------------------------------------
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        t0, doc_ids = time.perf_counter(), self.doc_ids()
        if doc_ids == []:  # the filters match no document
            return []
        clues = getattr(query_bundle, "clues", None)
        if _asks(query_bundle):
            clues = self.engine.clues(query_bundle.query_str, doc_ids=doc_ids)
        t1 = self._clues_found(query_bundle, clues := clues or Clues())
        hits = self.engine.rank(query_bundle.query_str, clues, k=self.similarity_top_k, searcher=self.searcher,
                                fetch_k=self.per_query_top_k)
        self._record(query_bundle, clues, t0, t1)
        return _nodes(hits)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        t0, doc_ids = time.perf_counter(), self.doc_ids()
        if doc_ids == []:  # the filters match no document
            return []
        clues = getattr(query_bundle, "clues", None)
        if _asks(query_bundle):
            clues = await self.engine.aclues(query_bundle.query_str, doc_ids=doc_ids)
        t1 = self._clues_found(query_bundle, clues := clues or Clues())
        hits = await self.engine.arank(query_bundle.query_str, clues, k=self.similarity_top_k,
                                       searcher=self.searcher, fetch_k=self.per_query_top_k)
        self._record(query_bundle, clues, t0, t1)
        return _nodes(hits)

    @staticmethod
    def _clues_found(query_bundle: QueryBundle, clues: Clues) -> float:
        dispatcher.event(MemoRAGCluesEvent.from_clues(query_bundle.query_str, clues))
        return time.perf_counter()

    @staticmethod
    def _record(query_bundle: QueryBundle, clues: Clues, t0: float, t1: float) -> None:
        if isinstance(query_bundle, MemoRAGQueryBundle):
            query_bundle.clues = clues
            query_bundle.timings.setdefault("expand", t1 - t0)
            query_bundle.timings["retrieve"] = time.perf_counter() - t1


def _asks(query_bundle: QueryBundle) -> bool:
    """Whether retrieval asks the memory: the bundle carries no clues, and no earlier step asked."""
    return getattr(query_bundle, "clues", None) is None and not getattr(query_bundle, "asked", False)


def _nodes(hits: Sequence[FusedHit]) -> list[NodeWithScore]:
    return [NodeWithScore(node=_with_matches(h), score=h.score) for h in hits]


def _with_matches(hit: FusedHit) -> BaseNode:
    """A copy of the hit's node that says which queries found it, and the reranker's score when one
    read it (the stored node is left alone)."""
    node: BaseNode = hit.item
    found: dict[str, Any] = {MATCHED_QUERIES: list(hit.matched_queries)}
    if hit.rerank_score is not None:
        found[RERANK_SCORE] = hit.rerank_score
    return node.model_copy(update={
        "metadata": {**node.metadata, **found},
        "excluded_embed_metadata_keys": [*node.excluded_embed_metadata_keys, *found],
        "excluded_llm_metadata_keys": [*node.excluded_llm_metadata_keys, *found],
    })


def store_dimension(vector_store: Any) -> int | None:
    """The dimension of the vectors ``vector_store`` holds, where it can say: a FAISS index's (even
    empty), or the simple store's first vector's. None when it cannot tell."""
    dim = getattr(getattr(vector_store, "client", None), "d", None)
    if isinstance(dim, int) and dim > 0:
        return dim
    vectors = getattr(getattr(vector_store, "data", None), "embedding_dict", None)
    if isinstance(vectors, dict) and vectors:
        return len(next(iter(vectors.values())))
    return None


def check_dimensions(vector_store: Any, embed_model: BaseEmbedding) -> None:
    """Refuse a store whose vectors have another dimension than ``embed_model`` writes (one text is
    embedded to learn it), before anything is read or written."""
    if vector_store is not None:
        check_store_dimension(store_dimension(vector_store), embed_model.get_text_embedding,
                              store=type(vector_store).__name__, writer="the embedding model writes",
                              remedy="the embed_model the store was built with")
