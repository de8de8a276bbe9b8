"""``MemoRAGRetriever``: the memory's clues search the user's own vector store, fused by RRF."""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from langchain_core.callbacks import (AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun,
                                      adispatch_custom_event, dispatch_custom_event)
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict, Field

from memorag_integrations.engine import MemoRAG
from memorag_integrations.errors import InvalidInputError, NotMemorizedError
from memorag_integrations.memory.base import Memory
from memorag_integrations.prompts import get_prompts, parse_items
from memorag_integrations.retrieval.chunking import chunk_text
from memorag_integrations.retrieval.fusion import FusedHit, cut_to_budget, query_weights, reciprocal_rank_fusion
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.schema import Clues
from memorag_integrations.schema import Document as CoreDocument

from langchain_memorag.bridges import ChatModelGenerator, EmbedderEmbeddings, as_core_embedder

#: Name of the custom event that carries the memory's clues (seen in ``astream_events``).
CLUES_EVENT = "memorag_clues"
TASKS = ("memorag", "summarize")

DocumentLike = LCDocument | CoreDocument | str


class MemoRAGRetriever(BaseRetriever):
    """Memory-augmented retrieval as a LangChain retriever.

    For each query the engine's memory writes clue spans and surrogate questions (and a draft when
    the engine has ``use_draft``); every one of them, and the query itself, searches
    ``vectorstore`` (any LangChain ``VectorStore``; the engine's own FAISS index when None), and the
    results are fused by weighted reciprocal-rank fusion. Each returned ``Document`` carries in its
    metadata ``score`` (fused), ``matched_queries``, ``query_scores``, ``doc_id``, ``start``/``end``
    (its char span in the source document), the source document's own metadata and ``clues``.

    ``invoke(query, k=2)`` overrides ``k``; ``invoke("", task="summarize")`` retrieves for a summary
    (the memory's key points are the queries).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: MemoRAG = Field(description="a memorized MemoRAG engine: its memory, fusion settings and index")
    vectorstore: VectorStore | None = Field(default=None,
                                            description="where chunks are searched; None: the engine's index")
    k: int = Field(default=4, description="documents returned per query")
    fetch_k: int | None = Field(default=None, description="hits fetched per expanded query; default max(2k, 10)")
    search_kwargs: dict[str, Any] = Field(default_factory=dict, description="extra vector store search arguments")

    # -- retrieval -----------------------------------------------------------------------------
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, task: str = "memorag") -> list[LCDocument]:
        k = self._check(k, task)
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        clues = RunnableLambda(lambda q: self._expand(q, task), name="memorag_expand").invoke(query, config)
        dispatch_custom_event(CLUES_EVENT, {"query": query, "task": task, **clues.to_dict()}, config=config)
        if self.vectorstore is None:
            search = RunnableLambda(lambda q: self.engine.retrieve(q, k, clues=clues), name="memorag_index_search")
            return self._from_evidence(search.invoke(query, config), clues)
        queries = _queries(query, clues)
        results = self._searcher(k).batch(queries, config)
        return self._fuse(query, queries, results, k, clues)

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None, task: str = "memorag") -> list[LCDocument]:
        k = self._check(k, task)
        config: RunnableConfig = {"callbacks": run_manager.get_child()}

        async def aexpand(q: str) -> Clues:
            return await self._aexpand(q, task)

        clues = await RunnableLambda(lambda q: self._expand(q, task), afunc=aexpand,
                                     name="memorag_expand").ainvoke(query, config)
        await adispatch_custom_event(CLUES_EVENT, {"query": query, "task": task, **clues.to_dict()}, config=config)
        if self.vectorstore is None:
            # The core's FAISS index is local and synchronous: a worker thread is the honest async form.
            search = RunnableLambda(lambda q: self.engine.retrieve(q, k, clues=clues), name="memorag_index_search")
            return self._from_evidence(await search.ainvoke(query, config), clues)
        queries = _queries(query, clues)
        results = await self._searcher(k).abatch(queries, config)
        return self._fuse(query, queries, results, k, clues)

    def _check(self, k: int | None, task: str) -> int:
        k = self.k if k is None else k
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        if task not in TASKS:
            raise InvalidInputError(f"unknown task {task!r} for retrieval; use one of {', '.join(TASKS)}")
        return k

    def _expand(self, query: str, task: str) -> Clues:
        if task == "summarize":
            return Clues(spans=parse_items(self.engine.memory.generate(*self._key_points_call())))
        return self.engine.expand(query)

    async def _aexpand(self, query: str, task: str) -> Clues:
        if task == "summarize":
            return Clues(spans=parse_items(await self.engine.memory.agenerate(*self._key_points_call())))
        return await self.engine.aexpand(query)

    def _key_points_call(self) -> tuple[str, int]:
        if not self.engine.memory.is_ready:
            raise NotMemorizedError("nothing is memorized yet: build the retriever with from_documents() or load()")
        return get_prompts(self.engine.memory.language).key_points, self.engine.answer_tokens

    def _searcher(self, k: int) -> RunnableLambda:
        vs, kwargs = self.vectorstore, self.search_kwargs
        assert vs is not None
        n = self.fetch_k or max(2 * k, 10)

        def search(q: str) -> list[tuple[LCDocument, float]]:
            return vs.similarity_search_with_score(q, k=n, **kwargs)

        async def asearch(q: str) -> list[tuple[LCDocument, float]]:
            return await vs.asimilarity_search_with_score(q, k=n, **kwargs)

        return RunnableLambda(search, afunc=asearch, name=f"{type(vs).__name__}.similarity_search_with_score")

    def _fuse(self, query: str, queries: list[str], results: list[list[tuple[LCDocument, float]]], k: int,
              clues: Clues) -> list[LCDocument]:
        rankings = [(q, [(_key(d), d, s) for d, s in hits]) for q, hits in zip(queries, results)]
        weights = query_weights(queries, query.strip(), self.engine.query_weight)
        fused = reciprocal_rank_fusion(rankings, weights=weights, rrf_k=self.engine.rrf_k)
        count = self.engine.generator.count_tokens
        kept = cut_to_budget(fused, k=k, token_budget=self.engine.token_budget,
                             count_tokens=lambda h: count(h.item.page_content))
        return [_document(h.item.page_content, h.item.metadata, h, clues, h.item.id) for h in kept]

    def _from_evidence(self, evidence: list, clues: Clues) -> list[LCDocument]:
        sources = {d.doc_id: d.metadata for d in self.engine.documents}
        docs = []
        for ev in evidence:
            meta = {**sources.get(ev.doc_id, {}), "doc_id": ev.doc_id, "start": ev.char_span[0], "end": ev.char_span[1]}
            hit = FusedHit(ev.chunk_id, None, ev.score, list(ev.matched_queries))
            docs.append(_document(ev.text, meta, hit, clues, f"{ev.doc_id}:{ev.char_span[0]}-{ev.char_span[1]}"))
        return docs

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_documents(cls, documents: Iterable[DocumentLike], embeddings: Embeddings | None = None, *,
                       vectorstore: type[VectorStore] | VectorStore | None = None, llm: BaseChatModel | None = None,
                       memory: Memory | None = None, k: int = 4, chunk_tokens: int = 200, chunk_overlap: int = 24,
                       vectorstore_kwargs: dict[str, Any] | None = None, progress: bool = False,
                       **engine_options: Any) -> MemoRAGRetriever:
        """Memorize ``documents`` and index their chunks.

        ``embeddings`` defaults to the embedded all-MiniLM-L6-v2. ``vectorstore`` is a VectorStore
        class (built with ``from_documents``), an instance (chunks are added to it) or None (the
        engine's own FAISS index). The memory is the local KV memory by default, or ``llm`` (any
        LangChain chat model, as a prompt memory), or a core ``memory``. ``engine_options`` go to
        :class:`MemoRAG` (``use_draft``, ``token_budget``, ``clue_tokens``...).
        """
        if llm is not None and memory is not None:
            raise InvalidInputError("pass either llm (a chat model to use as the memory) or memory, not both")
        if llm is not None:
            from memorag_integrations.memory.prompt import PromptMemory

            memory = PromptMemory(ChatModelGenerator(llm))
        embeddings = embeddings if embeddings is not None else EmbedderEmbeddings()
        index = DenseRetriever(as_core_embedder(embeddings), chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap)
        engine = MemoRAG(memory, index, progress=progress, **engine_options)
        docs = [_core_document(d) for d in documents]
        if vectorstore is None:
            engine.memorize(docs)
            return cls(engine=engine, k=k)
        from memorag_integrations.documents import as_documents

        docs = as_documents(docs)
        engine.memory.memorize(docs, progress=progress)
        engine.documents = docs
        store = _fill(vectorstore, _chunk_documents(engine), embeddings, vectorstore_kwargs or {})
        return cls(engine=engine, vectorstore=store, k=k)

    @classmethod
    def from_texts(cls, texts: Iterable[str], embeddings: Embeddings | None = None, *,
                   metadatas: Sequence[dict[str, Any]] | None = None, ids: Sequence[str] | None = None,
                   **options: Any) -> MemoRAGRetriever:
        """:meth:`from_documents` for plain texts; ``ids`` become the documents' ``doc_id``."""
        texts = list(texts)
        metadatas = list(metadatas) if metadatas is not None else [{} for _ in texts]
        ids = list(ids) if ids is not None else [None] * len(texts)
        if not len(texts) == len(metadatas) == len(ids):
            raise InvalidInputError("give one metadata dict and one id per text")
        docs = [CoreDocument(t, i, dict(m)) for t, m, i in zip(texts, metadatas, ids)]
        return cls.from_documents(docs, embeddings, **options)

    @classmethod
    def load(cls, folder: str | os.PathLike, embeddings: Embeddings | None = None, *,
             vectorstore: type[VectorStore] | VectorStore | None = None, llm: BaseChatModel | None = None,
             memory: Memory | None = None, k: int = 4, vectorstore_kwargs: dict[str, Any] | None = None,
             **engine_options: Any) -> MemoRAGRetriever:
        """A retriever over a corpus saved by the core (``MemoRAG.save`` or ``memorag memorize``).

        With ``vectorstore`` the saved chunks (exact char spans) are indexed into it; otherwise the
        saved FAISS index is used. ``llm`` is the chat model of a corpus saved with a prompt memory;
        ``memory`` an already built memory of the saved kind (to reuse a loaded model).
        """
        retriever = None
        if embeddings is not None:
            from memorag_integrations.store import read_manifest

            saved = read_manifest(folder)["retriever"]
            retriever = DenseRetriever(as_core_embedder(embeddings), chunk_tokens=saved["chunk_tokens"],
                                       chunk_overlap=saved["chunk_overlap"])
        generator = ChatModelGenerator(llm) if llm is not None else None
        engine = MemoRAG.load(folder, memory=memory, retriever=retriever, generator=generator, **engine_options)
        return cls.from_engine(engine, vectorstore, embeddings, k=k, vectorstore_kwargs=vectorstore_kwargs)

    @classmethod
    def from_engine(cls, engine: MemoRAG, vectorstore: type[VectorStore] | VectorStore | None = None,
                    embeddings: Embeddings | None = None, *, k: int = 4,
                    vectorstore_kwargs: dict[str, Any] | None = None) -> MemoRAGRetriever:
        """A retriever over an engine that has memorized its corpus already.

        With ``vectorstore`` (a class or an instance) the engine's chunks, with exact char spans, are
        indexed into it, embedded by ``embeddings`` (default: the engine's own embedder).
        """
        if not engine.memory.is_ready:
            raise NotMemorizedError("the engine has memorized nothing yet: call engine.memorize(...) first")
        if vectorstore is None:
            return cls(engine=engine, k=k)
        embeddings = embeddings if embeddings is not None else EmbedderEmbeddings(engine.retriever.embedder)
        store = _fill(vectorstore, _chunk_documents(engine), embeddings, vectorstore_kwargs or {})
        return cls(engine=engine, vectorstore=store, k=k)


def _queries(query: str, clues: Clues) -> list[str]:
    return list(dict.fromkeys(q.strip() for q in [query, *clues.queries()] if q and q.strip()))


def _key(doc: LCDocument) -> Hashable:
    meta = doc.metadata
    if {"doc_id", "start", "end"} <= meta.keys():
        return (meta["doc_id"], meta["start"], meta["end"])
    return doc.id or doc.page_content


def _document(text: str, metadata: dict[str, Any], hit: FusedHit, clues: Clues, doc_id: str | None) -> LCDocument:
    meta = {**metadata, "score": hit.score, "matched_queries": list(hit.matched_queries),
            "query_scores": dict(hit.query_scores), "clues": clues.to_dict()}
    return LCDocument(page_content=text, metadata=meta, id=doc_id)


def _core_document(doc: DocumentLike) -> CoreDocument:
    if isinstance(doc, CoreDocument):
        return doc
    if isinstance(doc, str):
        return CoreDocument(doc)
    if isinstance(doc, LCDocument):
        meta = dict(doc.metadata)
        return CoreDocument(doc.page_content, str(meta.get("doc_id") or doc.id or "") or None, meta)
    raise InvalidInputError(f"expected LangChain Documents, core Documents or strings, got {type(doc).__name__}")


def _chunk_documents(engine: MemoRAG) -> list[LCDocument]:
    """The corpus as chunk Documents with exact char spans: the saved chunks, or the core's chunker."""
    index = engine.retriever
    sources = {d.doc_id: d for d in engine.documents}
    spans = [(c.doc_id, c.start, c.end) for c in index.chunks] or [
        (d.doc_id, s, e) for d in engine.documents
        for s, e in chunk_text(d.text, index.embedder.token_offsets, index.chunk_tokens, index.chunk_overlap)]
    out = []
    for doc_id, start, end in spans:
        doc = sources[doc_id]
        meta = {**doc.metadata, "doc_id": doc_id, "start": start, "end": end}
        out.append(LCDocument(page_content=doc.text[start:end], metadata=meta, id=f"{doc_id}:{start}-{end}"))
    return out


def _fill(vectorstore: type[VectorStore] | VectorStore, chunks: list[LCDocument], embeddings: Embeddings,
          kwargs: dict[str, Any]) -> VectorStore:
    if isinstance(vectorstore, type):
        if not issubclass(vectorstore, VectorStore):
            raise InvalidInputError(f"{vectorstore.__name__} is not a LangChain VectorStore class")
        return vectorstore.from_documents(chunks, embeddings, **kwargs)
    if not isinstance(vectorstore, VectorStore):
        raise InvalidInputError(f"expected a VectorStore class or instance, got {type(vectorstore).__name__}")
    vectorstore.add_documents(chunks, **kwargs)
    return vectorstore
