"""``MemoRAGRetriever``: the memory's clues search the user's own vector store, fused by RRF."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from langchain_core.callbacks import (AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun,
                                      adispatch_custom_event, dispatch_custom_event)
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.vectorstores import VectorStore
from pydantic import ConfigDict, Field, field_validator

from memorag_integrations import defaults
from memorag_integrations.engine import MemoRAG
from memorag_integrations.errors import InvalidInputError, NotMemorizedError
from memorag_integrations.filters import DocumentFilter, metadata_matches
from memorag_integrations.memory.base import Memory
from memorag_integrations.pipeline import check_k
from memorag_integrations.retrieval.fusion import FusedHit
from memorag_integrations.retrieval.index import check_store_dimension
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.retrieval.search import Hit, Searcher
from memorag_integrations.schema import Chunk, Clues
from memorag_integrations.schema import Document as CoreDocument
from memorag_integrations.tasks import RETRIEVAL_TASKS, get_task

from langchain_memorag.bridges import ChatModelGenerator, EmbedderEmbeddings, as_core_embedder

#: Name of the custom event that carries the memory's clues (seen in ``astream_events``).
CLUES_EVENT = "memorag_clues"
TASKS = RETRIEVAL_TASKS

DocumentLike = LCDocument | CoreDocument | str


class VectorStoreSearcher(Searcher):
    """A LangChain ``VectorStore`` as the core's searcher: each query is one
    ``similarity_search_with_score`` run (sync or async), a child of the retriever's run."""

    def __init__(self, vectorstore: VectorStore, search_kwargs: dict[str, Any], config: RunnableConfig) -> None:
        self.vectorstore, self.search_kwargs, self.config = vectorstore, search_kwargs, config

    def _runnable(self, k: int) -> RunnableLambda:
        vs, kwargs = self.vectorstore, self.search_kwargs

        def search(q: str) -> list[Hit]:
            return [Hit(_key(d), d, s) for d, s in vs.similarity_search_with_score(q, k=k, **kwargs)]

        async def asearch(q: str) -> list[Hit]:
            return [Hit(_key(d), d, s) for d, s in await vs.asimilarity_search_with_score(q, k=k, **kwargs)]

        return RunnableLambda(search, afunc=asearch, name=f"{type(vs).__name__}.similarity_search_with_score")

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        return self._runnable(k).batch(list(queries), self.config) if queries else []

    async def asearch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        return await self._runnable(k).abatch(list(queries), self.config) if queries else []

    def text_of(self, item: LCDocument) -> str:
        return item.page_content


class MemoRAGRetriever(BaseRetriever):
    """Memory-augmented retrieval as a LangChain retriever.

    For each query the engine's memory writes clue spans and surrogate questions (and a draft when
    the engine has ``use_draft``); every one of them, and the query itself, searches
    ``vectorstore`` (any LangChain ``VectorStore``; the engine's own FAISS index when None), and the
    results are fused by weighted reciprocal-rank fusion. Each returned ``Document`` carries in its
    metadata ``score`` (fused), ``matched_queries``, ``query_scores``, ``doc_id``, ``start``/``end``
    (its char span in the source document), the source document's own metadata and ``clues``, and
    ``rerank_score`` when the engine reranks (``rerank=N``).

    ``invoke(query, k=2)`` overrides ``k``; ``invoke("", task="summarize")`` retrieves for a summary
    (the memory's key points are the queries). ``invoke(query, filter={"topic": "tax"})`` (or
    ``search_kwargs={"filter": ...}`` for every query) keeps to some documents: the filter goes to
    the vector store as it is, and the memory's clues come from the part of the memory that holds
    the source documents it matches. A dict filter is portable (``{key: value}``, ``{key: [any,
    of]}``, ``$eq $ne $gt $gte $lt $lte $in $nin $contains $and $or $not``; ``doc_id`` is a key); a
    function is given each source as a ``Document``. A store's own filter object (Qdrant's
    ``Filter``) goes to the store, and the clues then come from the whole memory.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: MemoRAG = Field(description="a memorized MemoRAG engine: its memory, fusion settings and index")
    vectorstore: VectorStore | None = Field(default=None,
                                            description="where chunks are searched; None: the engine's index")
    k: int = Field(default=defaults.K, description="documents returned per query")
    fetch_k: int | None = Field(default=None, description="hits fetched per expanded query; default max(2k, 10)")
    search_kwargs: dict[str, Any] = Field(default_factory=dict, description="extra vector store search arguments")

    @field_validator("k")
    @classmethod
    def _positive_k(cls, k: int) -> int:
        return check_k(k)

    @field_validator("fetch_k")
    @classmethod
    def _positive_fetch_k(cls, fetch_k: int | None) -> int | None:
        return None if fetch_k is None else check_k(fetch_k, "fetch_k")

    # -- retrieval -----------------------------------------------------------------------------
    # Each step runs as a child run (memorag_expand, memorag_search), so tracing shows them.
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, task: str = "memorag", filter: Any = None) -> list[LCDocument]:
        k, config = self._k(k), self._config(run_manager)
        scope = self._scope(filter)
        clues = self._expand_step(task, scope).invoke(query, config)
        dispatch_custom_event(CLUES_EVENT, self._event(query, task, clues), config=config)
        return self._documents(self._search_step(clues, k, config, scope).invoke(query, config), clues)

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None, task: str = "memorag",
                                       filter: Any = None) -> list[LCDocument]:
        k, config = self._k(k), self._config(run_manager)
        scope = self._scope(filter)
        clues = await self._expand_step(task, scope).ainvoke(query, config)
        await adispatch_custom_event(CLUES_EVENT, self._event(query, task, clues), config=config)
        return self._documents(await self._search_step(clues, k, config, scope).ainvoke(query, config), clues)

    def _scope(self, filter: Any) -> _Scope:
        """The call's filter (or ``search_kwargs``'), and the source documents it keeps (None: all)."""
        if filter is None:
            filter = self.search_kwargs.get("filter")
        if filter is None:
            return _Scope(None, None)
        if not isinstance(filter, Mapping) and not callable(filter):  # the store's own filter object
            if self.vectorstore is None:
                raise InvalidInputError(f"the engine's own index takes a dict or a function as filter, got "
                                        f"{type(filter).__name__}")
            return _Scope(filter, None)
        return _Scope(filter, [str(d.doc_id) for d in self.engine.select(where=source_filter(filter)) or []])

    def _expand_step(self, task: str, scope: _Scope) -> RunnableLambda:
        """The memory's clues for the query (key points for a summary), from the filtered part."""
        get_task(task, retrieving=True)
        engine, doc_ids = self.engine, scope.doc_ids

        def expand(query: str) -> Clues | None:
            return engine.clues(query, task, doc_ids=doc_ids)

        async def aexpand(query: str) -> Clues | None:
            return await engine.aclues(query, task, doc_ids=doc_ids)

        return RunnableLambda(expand, afunc=aexpand, name="memorag_expand")

    def _search_step(self, clues: Clues | None, k: int, config: RunnableConfig, scope: _Scope) -> RunnableLambda:
        """The core pipeline's fused search, over the vector store (given the filter) or the
        engine's own index (kept to the filtered documents)."""
        engine, fetch_k = self.engine, self.fetch_k
        searcher = self._searcher(config, scope.filter)
        documents = engine.select(scope.doc_ids) if scope.doc_ids is not None and self.vectorstore is None else None

        def search(query: str) -> list[FusedHit]:
            if scope.doc_ids == []:
                return []
            return engine.rank(query, clues, k=k, searcher=searcher, fetch_k=fetch_k, documents=documents)

        async def asearch(query: str) -> list[FusedHit]:
            if scope.doc_ids == []:
                return []
            return await engine.arank(query, clues, k=k, searcher=searcher, fetch_k=fetch_k, documents=documents)

        return RunnableLambda(search, afunc=asearch, name="memorag_search")

    def _k(self, k: int | None) -> int:
        return self.k if k is None else check_k(k)

    @staticmethod
    def _config(run_manager: CallbackManagerForRetrieverRun | AsyncCallbackManagerForRetrieverRun) -> RunnableConfig:
        return {"callbacks": run_manager.get_child()}

    @staticmethod
    def _event(query: str, task: str, clues: Clues | None) -> dict[str, Any]:
        return {"query": query, "task": task, **(clues or Clues()).to_dict()}

    def _searcher(self, config: RunnableConfig, filter: Any = None) -> Searcher | None:
        """The vector store as a searcher (with the filter); None: the engine's own index."""
        if self.vectorstore is None:
            return None
        kwargs = self.search_kwargs if filter is None else {**self.search_kwargs, "filter": filter}
        return VectorStoreSearcher(self.vectorstore, kwargs, config)

    def _documents(self, hits: list[FusedHit], clues: Clues | None) -> list[LCDocument]:
        """The fused hits as Documents: the store's own, or the core's chunks with their source's metadata."""
        clue_dict = (clues or Clues()).to_dict()
        sources = {d.doc_id: d.metadata for d in self.engine.documents}
        docs = []
        for hit in hits:
            found = {"score": hit.score, "matched_queries": list(hit.matched_queries),
                     "query_scores": dict(hit.query_scores), "clues": clue_dict}
            if hit.rerank_score is not None:
                found["rerank_score"] = hit.rerank_score
            if isinstance(hit.item, Chunk):
                docs.append(_chunk_document(hit.item, sources.get(hit.item.doc_id, {}), found))
            else:
                docs.append(LCDocument(page_content=hit.item.page_content, metadata={**hit.item.metadata, **found},
                                       id=hit.item.id))
        return docs

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_documents(cls, documents: Iterable[DocumentLike], embeddings: Embeddings | None = None, *,
                       vectorstore: type[VectorStore] | VectorStore | None = None, llm: BaseChatModel | None = None,
                       memory: Memory | None = None, k: int = defaults.K, chunk_tokens: int = defaults.CHUNK_TOKENS,
                       chunk_overlap: int = defaults.CHUNK_OVERLAP, vectorstore_kwargs: dict[str, Any] | None = None,
                       progress: bool = False, **engine_options: Any) -> MemoRAGRetriever:
        """Memorize ``documents`` and index their chunks.

        ``embeddings`` defaults to the embedded all-MiniLM-L6-v2. ``vectorstore`` is a VectorStore
        class (built with ``from_documents``), an instance (chunks are added to it) or None (the
        engine's own FAISS index). The memory is the local KV memory by default, or ``llm`` (any
        LangChain chat model, as a prompt memory), or a core ``memory``. ``engine_options`` go to
        :class:`MemoRAG` (``use_draft``, ``token_budget``, ``clue_tokens``...).
        """
        if llm is not None and memory is not None:
            raise InvalidInputError("pass either llm (a chat model to use as the memory) or memory, not both")
        check_k(k)
        _check_store(vectorstore)
        documents = _as_list(documents)
        if llm is not None:
            from memorag_integrations.memory.prompt import PromptMemory

            memory = PromptMemory(ChatModelGenerator(llm))
        embeddings = embeddings if embeddings is not None else EmbedderEmbeddings()
        _check_dimensions(vectorstore, embeddings)  # before the long read, not after it
        index = DenseRetriever(as_core_embedder(embeddings), chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap)
        engine = MemoRAG(memory, index, progress=progress, **engine_options)
        engine.memorize([_core_document(d) for d in documents], index=vectorstore is None)
        if vectorstore is None:
            return cls(engine=engine, k=k)
        store = _fill(vectorstore, _chunk_documents(engine), embeddings, vectorstore_kwargs or {})
        return cls(engine=engine, vectorstore=store, k=k)

    @classmethod
    def from_texts(cls, texts: Iterable[str], embeddings: Embeddings | None = None, *,
                   metadatas: Sequence[dict[str, Any]] | None = None, ids: Sequence[str] | None = None,
                   **options: Any) -> MemoRAGRetriever:
        """:meth:`from_documents` for plain texts; ``ids`` become the documents' ``doc_id``."""
        texts = list(texts)
        metadatas = list(metadatas) if metadatas is not None else [{} for _ in texts]
        id_list: list[str | None] = list(ids) if ids is not None else [None] * len(texts)
        if not len(texts) == len(metadatas) == len(id_list):
            raise InvalidInputError("give one metadata dict and one id per text")
        docs = [CoreDocument(t, i, dict(m)) for t, m, i in zip(texts, metadatas, id_list)]
        return cls.from_documents(docs, embeddings, **options)

    # -- a corpus that changes ------------------------------------------------------------------
    def add_documents(self, documents: Iterable[DocumentLike] | DocumentLike) -> list[str]:
        """Add documents: the memory takes them in (other gists come from the cache) and their
        chunks go into the vector store (or the engine's index). Returns the new chunks' ids."""
        docs = [_core_document(d) for d in _as_list(documents)]
        self.engine.add(docs)
        added = self.engine.documents[-len(docs):]
        chunks = _chunk_documents(self.engine, added)
        if self.vectorstore is not None:
            self.vectorstore.add_documents(chunks, ids=[d.id for d in chunks])
        return [str(d.id) for d in chunks]

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents by ``doc_id``: their chunks leave the vector store (by id) or the
        engine's index, and the memory is rebuilt without them."""
        doc_ids = [ids] if isinstance(ids, str) else list(ids)
        gone = [d for d in self.engine.documents if d.doc_id in set(doc_ids)]
        chunks = _chunk_documents(self.engine, gone)
        chunk_ids = _stored_ids(self.vectorstore, chunks) if self.vectorstore is not None else []
        self.engine.delete(doc_ids)
        if self.vectorstore is not None and chunk_ids:
            self.vectorstore.delete(ids=chunk_ids)

    def update_document(self, document: DocumentLike) -> None:
        """Replace the document of the same ``doc_id``: only its chunks are embedded again."""
        doc = _core_document(document)
        old = [d for d in self.engine.documents if d.doc_id == doc.doc_id]
        old_chunks = _chunk_documents(self.engine, old)
        old_ids = _stored_ids(self.vectorstore, old_chunks) if self.vectorstore is not None else []
        self.engine.update(doc)
        if self.vectorstore is not None:
            if old_ids:
                self.vectorstore.delete(ids=old_ids)
            chunks = _chunk_documents(self.engine, [doc])
            self.vectorstore.add_documents(chunks, ids=[d.id for d in chunks])

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False, include_kv: bool | None = None) -> Path:
        """Save the memory, the documents and the chunks into ``folder`` (the core's format, atomic).

        Over the engine's own index the index is saved too. Over your vector store the chunks are
        saved without their vectors, which stay in your store: persist it by its own means, or let
        :meth:`load` put the chunks back (``vectorstore=`` a class builds a new store from them, an
        instance gets the chunks it lacks)."""
        return self.engine.save(folder, overwrite=overwrite, include_kv=include_kv)

    @classmethod
    def load(cls, folder: str | os.PathLike, embeddings: Embeddings | None = None, *,
             vectorstore: type[VectorStore] | VectorStore | None = None, llm: BaseChatModel | None = None,
             memory: Memory | None = None, k: int = defaults.K, vectorstore_kwargs: dict[str, Any] | None = None,
             **engine_options: Any) -> MemoRAGRetriever:
        """A retriever over a corpus saved by :meth:`save`, ``MemoRAG.save`` or ``memorag memorize``.

        With ``vectorstore`` the saved chunks (exact char spans) go into it: a class is built from
        them, an instance gets those it does not hold yet (by id), so a store you persisted yourself
        is reconnected as it is. Without, the engine's own index is used (the saved one, or one
        embedded again when the corpus was saved over a vector store). ``llm`` is the chat model of
        a corpus saved with a prompt memory; ``memory`` an already built memory of the saved kind.
        """
        check_k(k)
        _check_store(vectorstore)
        retriever = None
        if embeddings is not None:
            from memorag_integrations.store import read_manifest

            saved = read_manifest(folder)["retriever"]
            retriever = DenseRetriever(as_core_embedder(embeddings), chunk_tokens=saved["chunk_tokens"],
                                       chunk_overlap=saved["chunk_overlap"])
        generator = ChatModelGenerator(llm) if llm is not None else None
        engine = MemoRAG.load(folder, memory=memory, retriever=retriever, generator=generator,
                              index=vectorstore is None, **engine_options)
        return cls.from_engine(engine, vectorstore, embeddings, k=k, vectorstore_kwargs=vectorstore_kwargs)

    @classmethod
    def from_engine(cls, engine: MemoRAG, vectorstore: type[VectorStore] | VectorStore | None = None,
                    embeddings: Embeddings | None = None, *, k: int = defaults.K,
                    vectorstore_kwargs: dict[str, Any] | None = None) -> MemoRAGRetriever:
        """A retriever over an engine that has memorized its corpus already.

        With ``vectorstore`` (a class or an instance) the engine's chunks, with exact char spans, are
        indexed into it, embedded by ``embeddings`` (default: the engine's own embedder).
        """
        check_k(k)
        _check_store(vectorstore)
        if not engine.memory.is_ready:
            raise NotMemorizedError("the engine has memorized nothing yet: call engine.memorize(...) first")
        if vectorstore is None:
            return cls(engine=engine, k=k)
        embeddings = embeddings if embeddings is not None else EmbedderEmbeddings(engine.retriever.embedder)
        _check_dimensions(vectorstore, embeddings)  # before anything is written into the store
        store = _fill(vectorstore, _chunk_documents(engine), embeddings, vectorstore_kwargs or {})
        return cls(engine=engine, vectorstore=store, k=k)


class _Scope(NamedTuple):
    """A call's filter as the vector store takes it, and the ids of the source documents it keeps
    (None: no filter, all of them)."""

    filter: Any
    doc_ids: list[str] | None


def source_filter(filter: Any) -> Callable[[CoreDocument], bool]:
    """A LangChain vector-store filter as a test of a source document, to choose the memory's part:
    a dict is read as metadata conditions (``doc_id`` included), a function is given the source
    as a LangChain ``Document``."""
    if isinstance(filter, Mapping):
        DocumentFilter.of(where=filter)  # unknown operators are refused here, before any search

        def matches(doc: CoreDocument) -> bool:
            return metadata_matches({**doc.metadata, "doc_id": doc.doc_id}, filter)
    elif callable(filter):
        def matches(doc: CoreDocument) -> bool:
            try:
                return bool(filter(LCDocument(page_content=doc.text, metadata={**doc.metadata, "doc_id": doc.doc_id})))
            except (TypeError, KeyError, AttributeError) as exc:
                raise InvalidInputError(f"the filter function failed on a source document ({type(exc).__name__}: "
                                        f"{exc}); it is given a langchain Document, or pass a dict filter") from exc
    else:
        raise InvalidInputError(f"filter must be a dict of metadata conditions or a function of a Document, got "
                                f"{type(filter).__name__}")
    return matches


def store_dimension(store: VectorStore) -> int | None:
    """The dimension of the vectors ``store`` holds, where the store can say: a FAISS index's, or
    the in-memory store's first vector's. None when it cannot tell (then nothing is checked)."""
    faiss_index = getattr(store, "index", None)
    dim = getattr(faiss_index, "d", None)
    if isinstance(dim, int) and dim > 0:
        return dim
    records = getattr(store, "store", None)
    if isinstance(records, dict) and records:
        first = next(iter(records.values()))
        vector = first.get("vector") if isinstance(first, dict) else None
        if vector is not None:
            return len(vector)
    return None


def _check_dimensions(vectorstore: type[VectorStore] | VectorStore | None, embeddings: Embeddings) -> None:
    """A store that holds vectors of another dimension than ``embeddings`` write is refused before
    anything is read or written (one query is embedded to learn the embeddings' dimension)."""
    if vectorstore is None or isinstance(vectorstore, type):
        return
    check_store_dimension(store_dimension(vectorstore), embeddings.embed_query,
                          store=f"{type(vectorstore).__name__} store", writer="the embeddings write",
                          remedy="the embeddings the store was built with")


def _key(doc: LCDocument) -> Hashable:
    """The same chunk found by two searches has one key: its span when it has one, else its id."""
    meta = doc.metadata
    if {"doc_id", "start", "end"} <= meta.keys():
        return (meta["doc_id"], meta["start"], meta["end"])
    return doc.id or doc.page_content


def _chunk_document(chunk: Chunk, source_metadata: dict[str, Any], extra: dict[str, Any] | None = None) -> LCDocument:
    """A core chunk as a LangChain Document: its source's metadata plus its exact position."""
    meta = {**source_metadata, "doc_id": chunk.doc_id, "start": chunk.start, "end": chunk.end, **(extra or {})}
    return LCDocument(page_content=chunk.text, metadata=meta, id=chunk.stable_id)


def _legacy_id(doc: LCDocument) -> str:
    """The id chunks had in a store before ids became UUIDs (``doc_id:start-end``), so a store
    filled then is still reconnected and changed without duplicates."""
    meta = doc.metadata
    return f"{meta['doc_id']}:{meta['start']}-{meta['end']}"


def _held_ids(store: VectorStore, chunks: list[LCDocument]) -> set[str] | None:
    """Which of the chunks' ids (current and legacy) ``store`` holds; None when it cannot look ids up."""
    wanted = [i for d in chunks for i in (str(d.id), _legacy_id(d))]
    try:
        found = store.get_by_ids(wanted)
    except NotImplementedError:
        return None
    # Most stores set Document.id; langchain-qdrant leaves it None and puts the id in "_id".
    return {str(d.id if d.id is not None else d.metadata.get("_id")) for d in found}


def _stored_ids(store: VectorStore, chunks: list[LCDocument]) -> list[str]:
    """The ids under which ``store`` holds ``chunks`` (to delete them): current or legacy ones."""
    held = _held_ids(store, chunks)
    if held is None:
        return [str(d.id) for d in chunks]
    return [i for d in chunks for i in (str(d.id), _legacy_id(d)) if i in held]


def _chunk_documents(engine: MemoRAG, documents: Sequence[CoreDocument] | None = None) -> list[LCDocument]:
    """The corpus (or ``documents`` of it) as chunk Documents with exact char spans, for a vector store."""
    sources = {d.doc_id: d.metadata for d in engine.documents}
    chunks = engine.chunks() if documents is None else engine.retriever.chunker.chunk(documents)
    return [_chunk_document(c, sources.get(c.doc_id, {})) for c in chunks]


def _as_list(documents: Any) -> list[Any]:
    if isinstance(documents, (str, CoreDocument, LCDocument)):
        return [documents]
    if isinstance(documents, (bytes, bytearray)) or not isinstance(documents, Iterable):
        raise InvalidInputError(f"expected documents (LangChain Documents, core Documents or strings), got "
                                f"{type(documents).__name__}")
    return list(documents)


def _core_document(doc: DocumentLike) -> CoreDocument:
    if isinstance(doc, CoreDocument):
        return doc
    if isinstance(doc, str):
        return CoreDocument(doc)
    if isinstance(doc, LCDocument):
        meta = dict(doc.metadata)
        return CoreDocument(doc.page_content, str(meta.get("doc_id") or doc.id or "") or None, meta)
    raise InvalidInputError(f"expected LangChain Documents, core Documents or strings, got {type(doc).__name__}")


def _check_store(vectorstore: object) -> None:
    """Refuse a wrong ``vectorstore`` before any model reads anything."""
    if vectorstore is None:
        return
    if isinstance(vectorstore, type):
        if not issubclass(vectorstore, VectorStore):
            raise InvalidInputError(f"{vectorstore.__name__} is not a LangChain VectorStore class")
    elif not isinstance(vectorstore, VectorStore):
        raise InvalidInputError(f"expected a VectorStore class or instance, got {type(vectorstore).__name__}")


def _fill(vectorstore: type[VectorStore] | VectorStore, chunks: list[LCDocument], embeddings: Embeddings,
          kwargs: dict[str, Any]) -> VectorStore:
    """A new store of ``chunks``, or ``vectorstore`` with the chunks it does not hold yet added."""
    if isinstance(vectorstore, type):
        return vectorstore.from_documents(chunks, embeddings, **kwargs)
    missing = _missing(vectorstore, chunks)
    if missing:
        vectorstore.add_documents(missing, ids=[d.id for d in missing], **kwargs)
    return vectorstore


def _missing(store: VectorStore, chunks: list[LCDocument]) -> list[LCDocument]:
    """The chunks ``store`` does not hold (by id, current or legacy); all of them when the store
    cannot look ids up."""
    held = _held_ids(store, chunks)
    if held is None:
        return chunks
    return [d for d in chunks if str(d.id) not in held and _legacy_id(d) not in held]
