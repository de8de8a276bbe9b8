"""The MemoRAG engine: memorize a corpus, expand queries into clues, retrieve, answer."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from memorag_integrations import defaults
from memorag_integrations.documents import as_documents
from memorag_integrations.errors import (CorruptStoreError, IncompatibleStoreError, InvalidInputError,
                                         NotMemorizedError, QueryTooLongError)
from memorag_integrations.extractive import (CENTRAL_CHUNKS, CENTRAL_LABEL, Extracted, answer_quotes, candidates,
                                             check_answer_mode, is_embedded_default, pieces, render,
                                             resolve_answer_mode, summary_quotes)
from memorag_integrations.filters import DocumentFilter, Where
from memorag_integrations.kvcodec import KV_DTYPES
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.memory.base import Memory
from memorag_integrations.memory.registry import memory_from_config
from memorag_integrations.models import loadable_model
from memorag_integrations.pipeline import Fusion, Steps, arank, check_clues, check_k, plan_searches, rank
from memorag_integrations.progress import Progress
from memorag_integrations.prompts import PromptSet
from memorag_integrations.retrieval.catalog import Catalog, Scope, plan_scopes
from memorag_integrations.retrieval.fusion import DEFAULT_RRF_K, FusedHit
from memorag_integrations.retrieval.rerank import (QueryLikelihoodReranker, Reranker, can_score, default_reranker,
                                                   passage_sentences)
from memorag_integrations.retrieval.vector_cache import SENTENCES_FILE, VectorCache, read_kept, write_kept
from memorag_integrations.retrieval.retriever import CHUNKS_FILE, INDEX_FILE, DenseRetriever, read_chunks, write_chunks
from memorag_integrations.retrieval.search import Searcher
from memorag_integrations.schema import Answer, Chunk, Clues, Document, Evidence, Quote
from memorag_integrations.store import (check_chunks, check_memory, check_same, check_writable, corpus_manifest,
                                        read_corpus, read_manifest, write_atomically, write_corpus)
from memorag_integrations.tasks import TASK_NAMES, Task, get_task

logger = logging.getLogger(__name__)

TASKS = TASK_NAMES  # the task names, as before the tasks became objects


@dataclass
class Prepared:
    """Everything before the final generation: the task, clues, evidence, prompt and timings."""

    task: Task
    clues: Clues | None
    evidence: list[Evidence]
    prompt: str
    timings: dict[str, float]
    #: The reply when nothing was retrieved (no model is asked); None otherwise.
    unanswered: str | None = None
    #: The memory the query used: the engine's, or its part for a filtered query.
    memory: Memory | None = None
    #: The query as checked, and the documents a filtered query keeps to (None: all).
    query: str = ""
    documents: list[Document] | None = None


class MemoRAG:
    """Memory-augmented RAG over one or many long documents.

    ``memory`` reads the whole corpus once (default: :class:`~memorag_integrations.memory.kv.KVMemory`
    over the embedded SmolLM2-135M-Instruct); ``retriever`` indexes its chunks (default:
    :class:`DenseRetriever` with the embedded all-MiniLM-L6-v2); ``generator`` writes the final
    answer (default: the memory's own model). Queries never change the engine's state, so one
    engine serves many threads.
    """

    def __init__(
        self,
        memory: Memory | None = None,
        retriever: DenseRetriever | None = None,
        generator: TextGenerator | None = None,
        *,
        k: int = defaults.K,
        token_budget: int | None = None,
        use_draft: bool = False,
        query_weight: float | None = None,
        rrf_k: int = DEFAULT_RRF_K,
        grounding: float | None = defaults.GROUNDING,
        feedback: int = defaults.FEEDBACK,
        rerank: int | None = None,
        reranker: Reranker | None = None,
        route: int | None = defaults.ROUTE,
        scope: bool = defaults.SCOPE,
        clue_tokens: int = defaults.CLUE_TOKENS,
        answer_tokens: int = defaults.ANSWER_TOKENS,
        answer_mode: str = "auto",
        write_clues: bool | None = None,
        progress: Progress = True,
    ) -> None:
        if memory is None:
            from memorag_integrations.memory.kv import KVMemory

            memory = KVMemory()
        self.memory = memory
        self.retriever = retriever or DenseRetriever()
        self.generator = generator or memory.generator
        self.k = check_k(k)
        self.token_budget = token_budget
        if not isinstance(use_draft, bool):
            raise InvalidInputError(f"use_draft must be True or False, got {use_draft!r}")
        self.use_draft = use_draft
        self.query_weight = query_weight
        self.rrf_k = rrf_k
        self.grounding = grounding
        self.feedback = feedback
        self.rerank = rerank
        self.reranker = reranker
        self.scope = scope
        self._catalog: tuple[list[Document], Catalog] | None = None
        self.fusion, self.steps  # noqa: B018 (bad settings fail here, not at the first query)
        # Query-time sentence vectors: the reranker's and the quoted answer's sentences are mostly the same.
        self._sentence_vectors = VectorCache(self.retriever.embedder.encode)
        if self.steps.rerank and reranker is None:
            self.reranker = default_reranker(self.generator, self._sentence_vectors)
        self.route = None if route is None else check_k(route, "route")
        self.clue_tokens = check_k(clue_tokens, "clue_tokens")
        self.answer_tokens = check_k(answer_tokens, "answer_tokens")
        self.answer_mode = check_answer_mode(answer_mode)
        if write_clues is not None and not isinstance(write_clues, bool):
            raise InvalidInputError(f"write_clues must be True, False or None (off for the embedded model only), "
                                    f"got {write_clues!r}")
        self.write_clues = write_clues
        self.progress = progress
        self.documents: list[Document] = []
        #: False when the chunks live in a store outside the engine (an adapter's vector store).
        self.indexed = True

    # -- reading ---------------------------------------------------------------------------------
    def memorize(self, inputs: str | Document | Iterable[str | Document], save_dir: str | os.PathLike | None = None,
                 *, overwrite: bool = False, index: bool = True) -> MemoRAG:
        """Read ``inputs`` (a text, a :class:`Document`, or many) into memory and index them.

        Replaces anything memorized before; see :meth:`add` to grow a corpus. With ``save_dir`` the
        result is also saved there. ``index=False`` leaves the chunks to a store outside the engine
        (what the adapters do with a framework's vector store; :meth:`chunks` gives them).
        """
        docs = as_documents(inputs)
        if save_dir is not None:  # fail before the long read, not after it
            check_writable(save_dir, overwrite=overwrite)
        t0 = time.perf_counter()
        self.memory.memorize(docs, progress=self.progress)
        self.retriever.clear()
        if index:
            self.retriever.add(docs, progress=self.progress)
        self.documents, self.indexed = docs, index
        self._sentence_vectors.forget_kept()
        self._keep_sentences(docs, self.retriever.chunks if index else None)
        logger.info("memorized %d document(s) in %.1f s", len(docs), time.perf_counter() - t0)
        if save_dir is not None:
            self.save(save_dir, overwrite=overwrite)
        return self

    def add(self, inputs: str | Document | Iterable[str | Document]) -> MemoRAG:
        """Add documents to the corpus: new chunks are indexed, and the memory is rebuilt from
        cached gists, so only the new text is read by the model."""
        new = as_documents(inputs, first_id=len(self.documents))
        taken = {d.doc_id for d in self.documents} & {d.doc_id for d in new}
        if taken:
            raise InvalidInputError(f"doc_id(s) {sorted(map(str, taken))} already memorized; give new documents "
                                    "other ids")
        docs = self.documents + new
        self.memory.memorize(docs, progress=self.progress)
        self._keep_sentences(new, self.retriever.add(new, progress=self.progress) if self.indexed else None)
        self.documents = docs
        return self

    def delete(self, doc_ids: str | Iterable[str]) -> MemoRAG:
        """Remove documents from the corpus: their chunks leave the index (nothing is embedded
        again) and the memory is rebuilt from the cached gists of the documents that stay."""
        ids = {doc_ids} if isinstance(doc_ids, str) else set(doc_ids)
        self._require_known(ids)
        remaining = [d for d in self.documents if d.doc_id not in ids]
        if not remaining:
            raise InvalidInputError("deleting every document leaves nothing to remember: memorize a new corpus "
                                    "instead")
        self.memory.memorize(remaining, progress=self.progress)
        if self.indexed:
            self.retriever.remove(ids)
        self.documents = remaining
        return self

    def update(self, document: Document) -> MemoRAG:
        """Replace the document of the same ``doc_id``: only its chunks are embedded again, and only
        its new text is read by the memory model (the other gists come from the cache)."""
        if not isinstance(document, Document) or document.doc_id is None:
            raise InvalidInputError("update() takes a Document with the doc_id of the one it replaces")
        (new,) = as_documents(document)  # checks the text
        doc_id = str(new.doc_id)
        self._require_known({doc_id})
        docs = [new if d.doc_id == doc_id else d for d in self.documents]
        self.memory.memorize(docs, progress=self.progress)
        if self.indexed:
            self.retriever.remove({doc_id})
        self._keep_sentences([new], self.retriever.add([new], progress=self.progress) if self.indexed else None)
        self.documents = docs
        return self

    def _keep_sentences(self, documents: Sequence[Document], chunks: Sequence[Chunk] | None) -> None:
        """Embed now the sentences the default reranker chooses among, of the chunks of ``documents``
        (``chunks``: the index's, or None to cut them as an adapter's store holds them), so that a
        query finds their vectors and a saved folder keeps them."""
        if self._reads_sentences:
            chunks = self.retriever.chunker.chunk(documents) if chunks is None else chunks
            t0 = time.perf_counter()
            count = self._sentence_vectors.keep(s for c in chunks for s in passage_sentences(c.text))
            logger.info("embedded %d sentences for the reranker in %.1f s", count, time.perf_counter() - t0)

    @property
    def _reads_sentences(self) -> bool:
        """Whether queries embed sentences of the corpus's chunks (in the engine's index or an
        adapter's store): its default reranker reads each candidate's sentences nearest the question."""
        reranker = self.reranker
        return (isinstance(reranker, QueryLikelihoodReranker) and reranker.sentences is not None
                and reranker.encode is self._sentence_vectors)

    def _corpus_sentences(self, chunks: Sequence[Chunk] | None = None) -> Iterator[str]:
        """The sentences of ``chunks`` (default: the corpus's) that the reranker chooses among."""
        return (s for c in (self.chunks() if chunks is None else chunks) for s in passage_sentences(c.text))

    def _require_known(self, doc_ids: set[str]) -> None:
        unknown = doc_ids - {d.doc_id for d in self.documents}
        if unknown:
            raise InvalidInputError(f"no memorized document has the doc_id(s) {sorted(map(str, unknown))}; "
                                    "engine.documents lists them")

    def chunks(self) -> list[Chunk]:
        """The corpus's chunks with exact char spans: the index's own, or cut by its chunker when the
        chunks live in a store outside the engine."""
        return list(self.retriever.chunks) if self.indexed else self.retriever.chunker.chunk(self.documents)

    # -- the memory's clues ------------------------------------------------------------------------
    @property
    def writes_clues(self) -> bool:
        """Whether queries ask the memory for clues before retrieval: ``write_clues`` as given, else
        (None) for every memory model but the embedded SmolLM2-135M. Its clues and key points moved
        no ranking on the MultiHop-RAG, hotpot and contract suites, for about three times the
        seconds of a query without them (benchmarks/README.md, "Clues of the embedded model")."""
        return not is_embedded_default(self.memory.generator) if self.write_clues is None else self.write_clues

    def _writes(self, write: bool | None, task: Task) -> bool:
        """Whether the memory is asked before retrieval: always for a summary's key points (its only
        search terms), else as ``write`` / :attr:`writes_clues` says."""
        if write is not None and not isinstance(write, bool):
            raise InvalidInputError(f"write_clues must be True, False or None (the engine's setting), got {write!r}")
        return task.name == "summarize" or (self.writes_clues if write is None else write)

    def clues(self, query: str = "", task: str | Task = "memorag", *, doc_ids: str | Iterable[str] | None = None,
              where: Where | None = None, write: bool | None = None) -> Clues | None:
        """What the memory writes for ``query`` under ``task``: clue spans and surrogate questions
        (``memorag``), key points (``summarize``), nothing (``qa``). With ``doc_ids`` / ``where``
        the clues come from those documents' part of the memory (none when no document matches).
        None, without a model call, when the engine writes no clues (``write``, default
        :attr:`writes_clues`): retrieval then searches with the query alone."""
        checked = self.check_query(query, task)
        if not self._writes(write, checked[0]):
            return None
        memory = self.memory_for(self.routed(checked[1], self.select(doc_ids, where)))
        return None if memory is None else self._clues(*checked, memory)

    async def aclues(self, query: str = "", task: str | Task = "memorag", *,
                     doc_ids: str | Iterable[str] | None = None, where: Where | None = None,
                     write: bool | None = None) -> Clues | None:
        """Async :meth:`clues`; the memory calls run concurrently."""
        checked = self.check_query(query, task)
        if not self._writes(write, checked[0]):
            return None
        memory = await asyncio.to_thread(lambda: self.memory_for(self.routed(checked[1], self.select(doc_ids, where))))
        return None if memory is None else await self._aclues(*checked, memory)

    def _clues(self, task: Task, query: str, prompts: PromptSet, memory: Memory) -> Clues | None:
        return task.clues(memory.generate_many(self._memory_calls(task, query, prompts)), query)

    async def _aclues(self, task: Task, query: str, prompts: PromptSet, memory: Memory) -> Clues | None:
        return task.clues(await memory.agenerate_many(self._memory_calls(task, query, prompts)), query)

    # -- filters -------------------------------------------------------------------------------------
    def select(self, doc_ids: str | Iterable[str] | None = None, where: Where | None = None) -> list[Document] | None:
        """The documents a query filtered by ``doc_ids`` and/or metadata (``where``: ``{key: value}``,
        ``{key: [any, of]}`` or a function of a :class:`Document`) may use; None without a filter."""
        flt = DocumentFilter.of(doc_ids, where)
        return None if flt is None else flt.select(self.documents)

    def routed(self, query: str, documents: list[Document] | None = None) -> list[Document] | None:
        """The documents whose memory answers ``query`` when routing is on (``route``): the ``route``
        documents (of ``documents``, default all) that the query's own search finds first. Their
        part of the memory holds their own text where it fits, so a query over a corpus of many
        documents is expanded from a detailed memory of the few that matter, whatever the corpus
        size. ``documents`` as given when routing is off, the corpus fits the memory as it is (no
        gists: a single window), or there are no more documents than ``route``."""
        pool = self.documents if documents is None else documents
        if (self.route is None or not query or len(pool) <= self.route or not self.memory.gists
                or not self.indexed):
            return documents
        hits = self._searcher(None, documents).search([query], self.route * defaults.ROUTE_FETCH)[0]
        chosen = set(list(dict.fromkeys(h.item.doc_id for h in hits))[:self.route])
        return [d for d in pool if d.doc_id in chosen]

    def memory_for(self, documents: list[Document] | None) -> Memory | None:
        """The memory a query over ``documents`` (None: all) asks: the engine's, or the part of it
        those documents hold (:meth:`Memory.part`); None when there are no documents."""
        self._require_memory()
        if documents is None or len(documents) == len(self.documents):
            return self.memory
        return self.memory.part(documents) if documents else None

    def expand(self, query: str) -> Clues:
        """Ask the memory for clue spans, surrogate questions and (if ``use_draft``) a draft answer,
        whatever :attr:`writes_clues` says."""
        clues = self.clues(query, "memorag", write=True)
        assert clues is not None
        return clues

    async def aexpand(self, query: str) -> Clues:
        """Async :meth:`expand`; the memory calls run concurrently."""
        clues = await self.aclues(query, "memorag", write=True)
        assert clues is not None
        return clues

    # -- retrieval ---------------------------------------------------------------------------------
    def retrieve(self, query: str, k: int | None = None, clues: Clues | None = None, *,
                 doc_ids: str | Iterable[str] | None = None, where: Where | None = None) -> list[Evidence]:
        """Evidence for ``query``: every clue and the query itself search the index, fused by RRF.

        ``clues`` defaults to the memory's for the query (see :attr:`writes_clues`); pass ``Clues()``
        for plain dense retrieval.
        ``doc_ids`` / ``where`` keep to some documents (see :meth:`select`): the evidence is theirs,
        and so are the clues' memory.
        """
        check_clues(clues)  # the arguments before the memory's calls
        k = self._k(k)
        documents = self.select(doc_ids, where)
        if clues is None:
            checked = self.check_query(query)
            memory = self.memory_for(self.routed(checked[1], documents))
            clues = self._clues(*checked, memory) if memory is not None and self._writes(None, checked[0]) else None
        return [self._evidence(h) for h in self.rank(query, clues, k=k, documents=documents)]

    def rank(self, query: str, clues: Clues | None, *, k: int | None = None, searcher: Searcher | None = None,
             fetch_k: int | None = None, documents: list[Document] | None = None) -> list[FusedHit]:
        """The fused, budgeted hits of ``query`` and its ``clues`` from ``searcher`` (default: the
        engine's index, limited to ``documents`` when given). Each hit's ``item`` is the
        searcher's own (a :class:`Chunk` here). With nothing to search (a summary without a focus
        whose memory wrote no key point) they are the corpus's most central chunks."""
        if searcher is None and not plan_searches(query, clues):
            return self._central(documents, self._k(k))[0]
        return rank(self._searcher(searcher, documents), query, clues, k=self._k(k), fusion=self.fusion,
                    count_tokens=self.generator.count_tokens, fetch_k=fetch_k, steps=self.steps,
                    reranker=self.reranker, scopes=self._scopes(query))

    async def arank(self, query: str, clues: Clues | None, *, k: int | None = None,
                    searcher: Searcher | None = None, fetch_k: int | None = None,
                    documents: list[Document] | None = None) -> list[FusedHit]:
        """Async :meth:`rank`: the searches go through the searcher's ``asearch``."""
        if searcher is None and not plan_searches(query, clues):
            return self._central(documents, self._k(k))[0]
        return await arank(self._searcher(searcher, documents), query, clues, k=self._k(k), fusion=self.fusion,
                           count_tokens=self.generator.count_tokens, fetch_k=fetch_k, steps=self.steps,
                           reranker=self.reranker, scopes=self._scopes(query))

    def _scopes(self, query: str) -> Sequence[Scope]:
        return plan_scopes(self.catalog, query) if self.scope else ()

    @property
    def fusion(self) -> Fusion:
        return Fusion(self.query_weight, self.rrf_k, self.token_budget)

    @property
    def steps(self) -> Steps:
        return Steps(self.grounding, self.feedback, rerank=self._rerank_depth(),
                     rerank_with_clues=self._rerank_depth(with_clues=True), scope=self.scope)

    @property
    def catalog(self) -> Catalog:
        """What the memory knows of each document besides its text (its source and day), for the
        scoped searches of a question that names them (``scope``); rebuilt when the corpus changes."""
        if self._catalog is None or self._catalog[0] is not self.documents:
            self._catalog = (self.documents, Catalog(self.documents))
        return self._catalog[1]

    def _rerank_depth(self, *, with_clues: bool = False) -> int:
        """``rerank`` as given, or by default (None), where there is a model to score them (the given
        reranker, or a generator that scores text), :data:`defaults.RERANK` candidates for a query
        searched alone and :data:`defaults.RERANK_WITH_CLUES` for one searched with clues."""
        if self.rerank is not None:
            return self.rerank
        if self.reranker is None and not can_score(self.generator):
            return 0
        return defaults.RERANK_WITH_CLUES if with_clues else defaults.RERANK

    # -- answering ---------------------------------------------------------------------------------
    def answer(self, query: str = "", task: str | Task = "memorag", *, k: int | None = None,
               max_new_tokens: int | None = None, doc_ids: str | Iterable[str] | None = None,
               where: Where | None = None, answer_mode: str | None = None) -> Answer:
        """Answer ``query``. Tasks: ``memorag`` (clues -> retrieval -> generator), ``qa`` (the
        memory alone) and ``summarize`` (key points -> retrieval -> summary; query optional).
        ``doc_ids`` / ``where`` answer from some documents only (see :meth:`select`).
        ``answer_mode`` overrides the engine's (see :meth:`answer_mode_for`): ``"extractive"``
        quotes the evidence's best sentences, ``"generate"`` has the generator write from it."""
        t0 = time.perf_counter()
        tokens = self._tokens(max_new_tokens)
        mode = self.answer_mode_for(task, answer_mode)
        prepared = self.prepare(query, task, k=k, doc_ids=doc_ids, where=where)
        t1 = time.perf_counter()
        if mode == "extractive" and (extracted := self.extract(prepared)) is not None:
            return self._extracted(prepared, extracted, t0, t1)
        text = prepared.unanswered or self._writer(prepared).generate(prepared.prompt, tokens)
        return self._answer(prepared, text, t0, t1, mode)

    async def aanswer(self, query: str = "", task: str | Task = "memorag", *, k: int | None = None,
                      max_new_tokens: int | None = None, doc_ids: str | Iterable[str] | None = None,
                      where: Where | None = None, answer_mode: str | None = None) -> Answer:
        """Async :meth:`answer`: remote generators are awaited natively, local ones run in threads."""
        t0 = time.perf_counter()
        tokens = self._tokens(max_new_tokens)
        mode = self.answer_mode_for(task, answer_mode)
        prepared = await self.aprepare(query, task, k=k, doc_ids=doc_ids, where=where)
        t1 = time.perf_counter()
        if mode == "extractive" and (extracted := await asyncio.to_thread(self.extract, prepared)) is not None:
            return self._extracted(prepared, extracted, t0, t1)
        text = prepared.unanswered or await self._writer(prepared).agenerate(prepared.prompt, tokens)
        return self._answer(prepared, text, t0, t1, mode)

    def stream(self, query: str = "", task: str | Task = "memorag", *, k: int | None = None,
               max_new_tokens: int | None = None, doc_ids: str | Iterable[str] | None = None,
               where: Where | None = None, answer_mode: str | None = None) -> Iterator[str]:
        """Like :meth:`answer`, but yield the answer text piece by piece as it is generated (an
        extractive answer a quote at a time)."""
        tokens = self._tokens(max_new_tokens)
        self.answer_mode_for(task, answer_mode)  # a bad mode fails before the memory is asked
        yield from self.write(self.prepare(query, task, k=k, doc_ids=doc_ids, where=where), max_new_tokens=tokens,
                              answer_mode=answer_mode)

    def write(self, prepared: Prepared, *, max_new_tokens: int | None = None, temperature: float = 0.0,
              generator: TextGenerator | None = None, answer_mode: str | None = None) -> Iterator[str]:
        """The answer to a :meth:`prepare` d query, piece by piece: what :meth:`stream` does once the
        evidence is in (a server shows the clues and evidence before it). ``temperature`` samples
        the answer (the memory-only task stays greedy); ``generator`` answers instead of the
        engine's own; in ``extractive`` mode (see :meth:`answer_mode_for`, which ``generator``
        decides for ``auto``) the pieces are the quotes, a line each."""
        tokens = self._tokens(max_new_tokens)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise InvalidInputError(f"temperature must be a number from 0.0 to 2.0, got {temperature!r}")
        mode = self.answer_mode_for(prepared.task, answer_mode, generator=generator)
        extracted = self.extract(prepared) if mode == "extractive" else None
        if extracted is not None:
            yield from pieces(extracted.text)
        elif prepared.unanswered:
            yield prepared.unanswered
        elif prepared.task.memory_answers:
            yield from (prepared.memory or self.memory).stream(prepared.prompt, tokens)
        else:
            writer = generator or self.generator
            yield from writer.stream(prepared.prompt, tokens, temperature=float(temperature))

    async def astream(self, query: str = "", task: str | Task = "memorag", *, k: int | None = None,
                      max_new_tokens: int | None = None, doc_ids: str | Iterable[str] | None = None,
                      where: Where | None = None, answer_mode: str | None = None) -> AsyncIterator[str]:
        """Async :meth:`stream`."""
        tokens = self._tokens(max_new_tokens)
        mode = self.answer_mode_for(task, answer_mode)
        prepared = await self.aprepare(query, task, k=k, doc_ids=doc_ids, where=where)
        extracted = await asyncio.to_thread(self.extract, prepared) if mode == "extractive" else None
        if extracted is not None:
            for piece in pieces(extracted.text):
                yield piece
            return
        if prepared.unanswered:
            yield prepared.unanswered
            return
        async for piece in self._writer(prepared).astream(prepared.prompt, tokens):
            yield piece

    def summarize(self, *, k: int | None = None, max_new_tokens: int | None = None,
                  doc_ids: str | Iterable[str] | None = None, where: Where | None = None,
                  answer_mode: str | None = None) -> Answer:
        """A summary of the whole corpus, or of the documents ``doc_ids`` / ``where`` keep (task
        ``summarize``); extractive, it is the corpus's most central sentences, in document order."""
        return self.answer("", "summarize", k=k, max_new_tokens=max_new_tokens, doc_ids=doc_ids, where=where,
                           answer_mode=answer_mode)

    # -- extractive answers --------------------------------------------------------------------------
    def answer_mode_for(self, task: str | Task = "memorag", answer_mode: str | None = None, *,
                        generator: TextGenerator | None = None) -> str:
        """How ``task`` is answered, ``"extractive"`` or ``"generate"``: ``answer_mode`` as given,
        else the engine's, with ``"auto"`` resolved for the model that would write the answer
        (``generator``, default the engine's own): extractive for the embedded default model, whose
        written answers cannot be trusted, generate for a model the user named. A task that
        retrieves nothing (``qa``) is always generated, unless ``answer_mode="extractive"`` is asked
        of it, which is an error."""
        task = get_task(task)
        if answer_mode is None and not task.retrieves:
            return "generate"
        writer = generator or (self.memory.generator if task.memory_answers else self.generator)
        return resolve_answer_mode(self.answer_mode if answer_mode is None else answer_mode,
                                   retrieves=task.retrieves, generator=writer)

    def extract(self, prepared: Prepared | None = None, *, query: str = "", task: str | Task = "memorag",
                evidence: Sequence[Evidence] = (), documents: Sequence[Document] | None = None) -> Extracted | None:
        """The extractive answer over a :meth:`prepare` d query's evidence (or over ``query``,
        ``task`` and ``evidence`` given alone, as the adapters give their retrievers' results):
        the sentences that best answer the query, best first, or for ``summarize`` the most central
        sentences of the corpus (``documents``: of those only), in document order. Every quote is a
        span of its memorized document (see :mod:`memorag_integrations.extractive`). None when there
        is nothing to quote: no evidence (a summary also reads the corpus's most central passages,
        so it needs none), or a filter that keeps no document."""
        if prepared is not None:
            if prepared.memory is None:
                return None
            query, task, evidence, documents = prepared.query, prepared.task, prepared.evidence, prepared.documents
        task = get_task(task)
        texts = {str(d.doc_id): d.text for d in self.documents}
        encode = self._sentence_vectors
        if task.name != "summarize":
            if not evidence:
                return None
            quotes = answer_quotes(query, candidates(evidence, texts), encode) if query else []
            return Extracted(render(quotes), quotes, list(evidence)) if quotes else self._no_sentence(evidence)
        hits, centroid = self._central(documents)
        central = [self._evidence(h) for h in hits]
        held = {(e.doc_id, e.char_span) for e in evidence}
        extra = [e for e in central if (e.doc_id, e.char_span) not in held]
        pool = [*evidence, *extra]
        if not pool:
            return None
        if query:  # a summary with a focus: central and near the focus
            focus = encode([query])[0]
            centroid = focus if centroid is None else centroid / max(float(np.linalg.norm(centroid)), 1e-12) + focus
        order = {str(d.doc_id): i for i, d in enumerate(self.documents)}
        quotes = summary_quotes(candidates(pool, texts), encode, centroid, doc_order=order)
        if not quotes:
            return self._no_sentence(pool)
        used = sorted({q.evidence for q in quotes if q.evidence is not None})
        kept = [n for n in range(1, len(evidence) + 1)] + [n for n in used if n > len(evidence)]
        number = {old: new for new, old in enumerate(kept, 1)}
        quotes = [replace(q, evidence=number[q.evidence]) if q.evidence is not None else q for q in quotes]
        return Extracted(render(quotes), quotes, [pool[n - 1] for n in kept])

    def _central(self, documents: Sequence[Document] | None,
                 limit: int = CENTRAL_CHUNKS) -> tuple[list[FusedHit], np.ndarray | None]:
        """The corpus's ``limit`` most central chunks (closest to the mean of its chunk vectors),
        best first, named :data:`CENTRAL_LABEL` among their matched queries, and that mean; none
        without the engine's own index (an adapter's vector store)."""
        index = self.retriever.index if self.indexed else None
        if index is None or not self.retriever.chunks:
            return [], None
        keep = None if documents is None else {str(d.doc_id) for d in documents}
        ids = [c.chunk_id for c in self.retriever.chunks if keep is None or str(c.doc_id) in keep]
        if not ids:
            return [], None
        vectors = index.vectors()[ids]
        centroid = vectors.mean(axis=0)
        scores = vectors @ (centroid / max(float(np.linalg.norm(centroid)), 1e-12))
        best = np.argsort(-scores, kind="stable")[:limit]
        return [FusedHit(ids[i], self.retriever.chunks[ids[i]], float(scores[i]), [CENTRAL_LABEL],
                         {CENTRAL_LABEL: float(scores[i])}) for i in best], centroid

    @staticmethod
    def _no_sentence(evidence: Sequence[Evidence]) -> Extracted | None:
        """No real sentence in the evidence (code, tables, headings): the best passage is quoted whole
        (None when no passage has a place in a memorized document)."""
        number, top = next(((n, e) for n, e in enumerate(evidence, 1) if e.text), (0, None))
        if top is None:
            return None
        quote = Quote(top.text, str(top.doc_id), top.char_span, float(top.score), number)
        return Extracted(render([quote]), [quote], list(evidence))

    def prepare(self, query: str = "", task: str | Task = "memorag", *, k: int | None = None,
                doc_ids: str | Iterable[str] | None = None, where: Where | None = None,
                write_clues: bool | None = None) -> Prepared:
        """Every step before the final generation: clues (``write_clues``, default
        :attr:`writes_clues`), retrieval and the prompt."""
        task, query, prompts = self.check_query(query, task)
        k = self._k(k)
        documents = self.select(doc_ids, where)
        t0 = time.perf_counter()  # a filtered or routed query's expansion includes reading its part of the memory
        memory = self.memory_for(self.routed(query, documents))
        if memory is None or not task.retrieves:
            return self._prepared(task, query, prompts, memory, documents=documents)
        clues = self._clues(task, query, prompts, memory) if self._writes(write_clues, task) else None
        t1 = time.perf_counter()
        hits = self.rank(query, clues, k=k, documents=documents)
        return self._prepared(task, query, prompts, memory, clues, hits, documents=documents, expand=t1 - t0,
                              retrieve=time.perf_counter() - t1)

    async def aprepare(self, query: str = "", task: str | Task = "memorag", *, k: int | None = None,
                       doc_ids: str | Iterable[str] | None = None, where: Where | None = None,
                       write_clues: bool | None = None) -> Prepared:
        """Async :meth:`prepare`."""
        task, query, prompts = self.check_query(query, task)
        k = self._k(k)
        documents = self.select(doc_ids, where)
        t0 = time.perf_counter()
        memory = await asyncio.to_thread(lambda: self.memory_for(self.routed(query, documents)))
        if memory is None or not task.retrieves:
            return self._prepared(task, query, prompts, memory, documents=documents)
        clues = await self._aclues(task, query, prompts, memory) if self._writes(write_clues, task) else None
        t1 = time.perf_counter()
        hits = await self.arank(query, clues, k=k, documents=documents)
        return self._prepared(task, query, prompts, memory, clues, hits, documents=documents, expand=t1 - t0,
                              retrieve=time.perf_counter() - t1)

    def _prepared(self, task: Task, query: str, prompts: PromptSet, memory: Memory | None,
                  clues: Clues | None = None, hits: list[FusedHit] | None = None, *,
                  documents: list[Document] | None = None, **timings: float) -> Prepared:
        """The evidence of ``hits`` and the task's prompt over it, with the steps' ``timings``.
        ``memory`` None: the filter kept no document, so there is nothing to answer from."""
        evidence = [self._evidence(h) for h in hits or []]
        passages = [e.text for e in evidence]
        unanswered = prompts.nothing_found if memory is None else task.unanswered(prompts, passages)
        return Prepared(task, clues, evidence, task.prompt(prompts, query, passages), timings, unanswered, memory,
                        query, documents)

    # -- the steps' small parts --------------------------------------------------------------------
    def check_query(self, query: object, task: str | Task = "memorag") -> tuple[Task, str, PromptSet]:
        """Check the task, the query and that something is memorized; pick the prompts' language."""
        task = get_task(task)
        query = task.check_query(query)
        self._require_memory()
        if query:
            self._check_length(query, task)
        return task, query, task.prompts(query, self.memory.language)

    def _check_length(self, query: str, task: Task) -> None:
        """Refuse a query that cannot fit in the memory model's window beside the memory, before any
        model call (it would run for minutes and fail, or be cut silently)."""
        reserve = max(self.clue_tokens, self.answer_tokens if task.memory_answers else 0)
        room = self.memory.query_room(reserve)
        if len(query.encode("utf-8")) + 2 > room:  # tokenizers make at most a token per byte (+ markers)
            n = self.memory.generator.count_tokens(query)
            if n > room:
                window = self.memory.generator.context_window
                raise QueryTooLongError(
                    f"the query is {n} tokens long, and the memory model's {window}-token window has room for "
                    f"{max(room, 0)} beside the memory: shorten the question, or memorize with a smaller "
                    "max_memory_tokens")

    def _memory_calls(self, task: Task, query: str, prompts: PromptSet) -> list[tuple[str, int]]:
        return task.memory_calls(prompts, query, use_draft=self.use_draft, clue_tokens=self.clue_tokens,
                                 answer_tokens=self.answer_tokens)

    def _k(self, k: int | None) -> int:
        return self.k if k is None else check_k(k)

    def _tokens(self, max_new_tokens: int | None) -> int:
        return self.answer_tokens if max_new_tokens is None else check_k(max_new_tokens, "max_new_tokens")

    def _searcher(self, searcher: Searcher | None, documents: list[Document] | None = None) -> Searcher:
        if searcher is not None:
            if documents is not None:
                raise InvalidInputError("a given searcher is not filtered by documents=: filter it in its own terms "
                                        "(the adapters pass their framework's filter to the store)")
            return searcher
        if not self.indexed:
            raise InvalidInputError("this engine's chunks live in an outside vector store, not in its own index: "
                                    "retrieve through the adapter that holds the store")
        if documents is None:
            return self.retriever
        return self.retriever.within({d.doc_id for d in documents})

    def _writer(self, prepared: Prepared) -> Memory | TextGenerator:
        """Who writes the answer: the memory (or its part) for ``qa``, the generator otherwise."""
        return (prepared.memory or self.memory) if prepared.task.memory_answers else self.generator

    def _evidence(self, hit: FusedHit) -> Evidence:
        chunk: Chunk = hit.item
        return Evidence(chunk.text, hit.score, chunk.doc_id, (chunk.start, chunk.end), hit.matched_queries,
                        chunk.chunk_id, hit.rerank_score)

    @staticmethod
    def _answer(prepared: Prepared, text: str, t0: float, t1: float, mode: str = "generate") -> Answer:
        now = time.perf_counter()
        step = "extract" if mode == "extractive" else "generate"  # extractive: nothing was found to quote
        timings = {**prepared.timings, step: now - t1, "total": now - t0}
        return Answer(text.strip(), prepared.evidence, prepared.clues, timings, prepared.task.name, mode)

    @staticmethod
    def _extracted(prepared: Prepared, extracted: Extracted, t0: float, t1: float) -> Answer:
        now = time.perf_counter()
        timings = {**prepared.timings, "extract": now - t1, "total": now - t0}
        return Answer(extracted.text, extracted.evidence, prepared.clues, timings, prepared.task.name, "extractive",
                      extracted.quotes)

    def _require_memory(self) -> None:
        if not self.memory.is_ready:
            raise NotMemorizedError("nothing is memorized yet: call memorize(...) or MemoRAG.load(dir) first")

    # -- persistence -----------------------------------------------------------------------------
    @property
    def saves_kv(self) -> bool:
        """Whether :meth:`save` keeps the memory's KV cache by default: where queries read the
        memory (:attr:`writes_clues`). Otherwise (the embedded model) the folder holds the memory's
        text, about 2 MB per 100k corpus tokens in place of about 95, and a loaded memory reads it
        again when it is first asked (a ``qa`` or summary call): up to about 9 s on two cores, once."""
        return self.writes_clues

    def save(self, folder: str | os.PathLike, *, overwrite: bool = False, include_kv: bool | None = None,
             kv_dtype: str | None = defaults.KV_DTYPE) -> Path:
        """Save memory, index and chunks into ``folder`` atomically (see :mod:`memorag_integrations.store`).

        ``include_kv``: whether a memory's cache (KV, llama.cpp state, beacons) is saved beside its
        text; None (the default) is :attr:`saves_kv`. Left out, the folder is much smaller and the
        memory reads its text again: a KV memory when it is first asked, the others on load.
        ``kv_dtype`` is how its floats are stored: ``"float16"`` (the default, half of float32's
        bytes), ``"bfloat16"``, ``"int8"`` (a quarter, with a scale per vector) or None (the model's
        own type); a llama.cpp memory's cache is llama.cpp's own state, saved as it is (in the
        context's KV type, float16 by default) whatever ``kv_dtype`` says. An engine whose chunks
        live in an outside vector store saves its chunks without their vectors (that store keeps
        them): :meth:`load` embeds the chunks again, or an adapter's ``load`` puts them back into a
        store."""
        self._require_memory()
        if kv_dtype is not None and kv_dtype not in KV_DTYPES:
            raise InvalidInputError(f"kv_dtype must be one of {', '.join(KV_DTYPES)}, or None to keep the model's; "
                                    f"got {kv_dtype!r}")

        def fill(tmp: Path) -> dict[str, Any]:
            keep = self.saves_kv if include_kv is None else include_kv
            write_corpus(tmp, self.documents, self.memory, include_kv=keep, kv_dtype=kv_dtype)
            chunks = self.chunks()  # cut once for an outside store: its chunks file and its sentences
            if self.indexed:
                self.retriever.save(tmp)
            else:
                write_chunks(tmp, chunks)
            if self._reads_sentences:
                keys, vectors = self._sentence_vectors.kept(self._corpus_sentences(chunks))
                if len(keys):
                    write_kept(tmp / SENTENCES_FILE, keys, vectors)
            manifest = corpus_manifest(self.documents, self.memory, self.retriever.config())
            return manifest if self.indexed else {**manifest, "index": OUTSIDE_INDEX}

        return write_atomically(folder, fill, overwrite=overwrite)

    @classmethod
    def load(cls, folder: str | os.PathLike, memory: Memory | None = None, retriever: DenseRetriever | None = None,
             generator: TextGenerator | None = None, *, index: bool = True, allow_models_from_manifest: bool = False,
             **options: Any) -> MemoRAG:
        """Load a folder written by :meth:`save`.

        Without ``memory``/``retriever`` they are rebuilt from the manifest: the embedded defaults
        only, unless ``allow_models_from_manifest`` lets it open the hub ids the manifest names, from
        the local cache (a folder someone sent you never makes ``load`` download or open a path).
        Given ones must match what was saved, or
        :class:`~memorag_integrations.errors.IncompatibleStoreError` names what differs. Every
        other failure to read the folder is a :class:`~memorag_integrations.errors.StoreError`.

        ``index=False`` leaves the chunks to a store outside the engine (as ``memorize(index=False)``);
        a folder saved that way is otherwise indexed again here, by embedding its chunks.
        """
        folder = Path(folder)
        manifest = read_manifest(folder)
        outside = check_index_entry(manifest, folder)
        saved_memory, saved_retriever = manifest["memory"], check_retriever_config(manifest["retriever"], folder)
        if memory is None:
            memory = memory_from_config(saved_memory, generator, allow_models_from_manifest=allow_models_from_manifest)
        if retriever is None:
            retriever = _saved_retriever(saved_retriever, allow_models_from_manifest)
        check_memory(saved_memory, memory, folder)
        check_same(saved_retriever, retriever.config(), "embedder or chunking", folder)
        engine = cls(memory, retriever, generator, **options)
        engine.documents = read_corpus(folder, memory, manifest, remedy="memorize the corpus again")
        try:
            if outside or not index:
                check_chunks(read_chunks(folder), engine.documents)
            else:
                retriever.load(folder)
                check_chunks(retriever.chunks, engine.documents)
            if SENTENCES_FILE in manifest["files"]:  # the index's dimension was checked against the embedder's
                dim = (retriever.index.dim if retriever.index is not None
                       else retriever.embedder.encode(["dimension check"]).shape[1])
                engine._sentence_vectors.load_kept(*read_kept(folder / SENTENCES_FILE, dim))
        except Exception as exc:  # noqa: BLE001 (json, faiss and numpy raise many kinds on bad bytes)
            raise CorruptStoreError(f"{folder} could not be read ({type(exc).__name__}: {exc}); memorize the "
                                    "corpus again") from exc
        engine.indexed = index
        if outside and index:
            logger.info("%s keeps no vectors (they were in an outside store): embedding its chunks", folder)
            retriever.add(engine.documents, progress=engine.progress)
        return engine

    def __repr__(self) -> str:
        return (f"MemoRAG(memory={self.memory!r}, retriever={self.retriever!r}, generator={self.generator!r}, "
                f"k={self.k}, documents={len(self.documents)})")


def check_retriever_config(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The manifest's retriever entry, checked: an embedder identity and integer chunking."""
    if (not isinstance(config.get("embedder"), str)
            or not all(isinstance(config.get(k), int) and not isinstance(config.get(k), bool)
                       for k in ("chunk_tokens", "chunk_overlap"))):
        raise CorruptStoreError(f"{folder}/manifest.json has no valid retriever entry (embedder, chunk_tokens, "
                                "chunk_overlap); memorize the corpus again")
    return config


def _saved_retriever(config: dict[str, Any], allow_models_from_manifest: bool) -> DenseRetriever:
    """The retriever the manifest describes, with its embedder opened as :func:`loadable_model` allows."""
    from memorag_integrations.models import hub_offline
    from memorag_integrations.retrieval.embedders import SentenceTransformerEmbedder

    model = loadable_model(config["embedder"], "embedder", allow_models_from_manifest=allow_models_from_manifest)
    try:
        with hub_offline():
            embedder = SentenceTransformerEmbedder(model, local_files_only=True)
        return DenseRetriever(embedder, chunk_tokens=config["chunk_tokens"], chunk_overlap=config["chunk_overlap"])
    except InvalidInputError as exc:
        raise CorruptStoreError(f"the saved chunking cannot be used ({exc}); memorize the corpus again") from exc
    except (OSError, ValueError) as exc:
        raise IncompatibleStoreError(f"the saved embedder {config['embedder']!r} cannot be opened ({exc}); pass "
                                     "retriever=... to load()") from exc


#: The manifest's ``index`` entry of a corpus whose vectors lived in a store outside the engine.
OUTSIDE_INDEX = "outside"


def check_index_entry(manifest: dict[str, Any], folder: Path) -> bool:
    """Whether the folder's vectors lived outside it; the core index's files are required otherwise."""
    if manifest.get("adapter") == "llama_index":
        raise IncompatibleStoreError(f"{folder} was saved by the LlamaIndex adapter; load it with "
                                     "llama_index.query_engine.memorag.MemoRAGQueryEngine.load")
    entry = manifest.get("index")
    if entry not in (None, OUTSIDE_INDEX):
        raise CorruptStoreError(f"{folder}/manifest.json has an unknown index entry {entry!r}; memorize the corpus "
                                "again")
    required = [CHUNKS_FILE] if entry == OUTSIDE_INDEX else [CHUNKS_FILE, INDEX_FILE]
    missing = [name for name in required if name not in manifest["files"]]
    if missing:
        raise CorruptStoreError(f"{folder}/manifest.json does not list {', '.join(missing)}, which every saved "
                                "corpus has; the folder was damaged or edited, memorize the corpus again")
    return entry == OUTSIDE_INDEX
