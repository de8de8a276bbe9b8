"""MemoRAGQueryEngine: memory-expanded retrieval, then an answer from the evidence (or from memory)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncGenerator, Generator, Iterable
from pathlib import Path
from typing import Any

import llama_index.core.instrumentation as instrument
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.response.schema import (RESPONSE_TYPE, AsyncStreamingResponse, Response,
                                                   StreamingResponse)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.llms.memorag import GeneratorLLM
from llama_index.retrievers.memorag import MemoRAGQueryBundle, MemoRAGRetriever
from llama_index.retrievers.memorag.defaults import resolve_llm
from llama_index.retrievers.memorag.nodes import MATCHED_QUERIES, chunk_nodes

from memorag_integrations.engine import MemoRAG
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.extractive import Extracted, check_answer_mode, pieces, resolve_answer_mode
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.memory.base import Memory
from memorag_integrations.prompts import PromptSet
from memorag_integrations.schema import Chunk, Clues, Evidence
from memorag_integrations.tasks import TASK_NAMES, Task, TaskName, get_task

dispatcher = instrument.get_dispatcher(__name__)

TASKS = TASK_NAMES


class MemoRAGQueryEngine(BaseQueryEngine):
    """Answers questions about a long corpus with MemoRAG.

    Tasks: ``memorag`` (clues from the memory -> retrieval -> answer by ``llm``), ``qa`` (the
    memory answers alone) and ``summarize`` (the memory's key points -> retrieval -> summary; the
    query is optional, a focus for the summary). ``llm`` defaults to ``Settings.llm`` when set,
    else the memory's own model. With ``streaming=True`` :meth:`query` returns a
    ``StreamingResponse`` and :meth:`aquery` an ``AsyncStreamingResponse``.

    ``Response.source_nodes`` are the fused evidence (``metadata`` has ``doc_id``, ``start``,
    ``end`` and ``matched_queries``); ``Response.metadata`` holds the task, ``clues``,
    ``surrogate_questions``, ``draft``, the ``queries`` that searched the index, ``answer_mode``,
    ``quotes`` and ``timings`` in seconds (``generate`` or ``extract``, and ``total``, are added
    once a stream is consumed).

    ``answer_mode`` (default: the core engine's) is the core's: ``"extractive"`` answers with the
    evidence's best sentences (a summary: the most central ones), each followed by ``[n]`` naming
    ``source_nodes[n - 1]`` and listed in ``metadata["quotes"]`` with its ``doc_id`` and exact
    ``char_span`` (an extractive summary adds the central passages it quotes to the source nodes);
    ``"generate"`` has ``llm`` write the answer; ``"auto"`` extracts when ``llm`` is the embedded
    default model (the memory's own, as it is when no LLM is given or set) and generates with any
    other LLM.
    """

    def __init__(self, retriever: MemoRAGRetriever, llm: LLM | None = None, *, task: TaskName = "memorag",
                 streaming: bool = False, answer_mode: str | None = None,
                 callback_manager: CallbackManager | None = None) -> None:
        get_task(task)
        self.retriever = retriever
        self.task = task
        self.streaming = streaming
        self.llm = resolve_llm(llm, retriever.engine.generator, retriever.engine.answer_tokens)
        self.answer_mode = None if answer_mode is None else check_answer_mode(answer_mode)
        self.answer_mode_for(get_task(task))  # extractive answers need a task that retrieves
        super().__init__(callback_manager or retriever.callback_manager)

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Any] | Any,
        *,
        llm: LLM | None = None,
        memory: Memory | LLM | None = None,
        embed_model: BaseEmbedding | None = None,
        task: TaskName = "memorag",
        streaming: bool = False,
        **retriever_options: Any,
    ) -> MemoRAGQueryEngine:
        """Memorize ``documents`` and index them, in one call.

        ``memory``, ``embed_model`` and ``retriever_options`` (``vector_store``, ``storage_context``,
        ``index``, ``chunk_tokens``, ``similarity_top_k``, ``k``, ``use_draft``...) are those of
        :meth:`MemoRAGRetriever.from_documents`; by default everything runs offline.
        """
        retriever = MemoRAGRetriever.from_documents(documents, memory=memory, embed_model=embed_model,
                                                    **retriever_options)
        return cls(retriever, llm, task=task, streaming=streaming)

    @classmethod
    def from_defaults(cls, retriever: MemoRAGRetriever | None = None, *, documents: Iterable[Any] | Any | None = None,
                      llm: LLM | None = None, task: TaskName = "memorag", streaming: bool = False,
                      **retriever_options: Any) -> MemoRAGQueryEngine:
        """The LlamaIndex-style constructor: over a ``retriever``, or over ``documents`` memorized
        and indexed as :meth:`MemoRAGRetriever.from_defaults` does with ``retriever_options``."""
        if retriever is None:
            retriever = MemoRAGRetriever.from_defaults(documents, **retriever_options)
        elif documents is not None or retriever_options:
            raise InvalidInputError("a retriever is built already: pass it alone, or documents and its options")
        return cls(retriever, llm, task=task, streaming=streaming)

    @classmethod
    def from_persist_dir(cls, persist_dir: str | os.PathLike, **options: Any) -> MemoRAGQueryEngine:
        """The LlamaIndex name of :meth:`load`: an engine saved by :meth:`persist`."""
        return cls.load(persist_dir, **options)

    def with_options(self, *, task: TaskName | None = None, streaming: bool | None = None,
                     answer_mode: str | None = None) -> MemoRAGQueryEngine:
        """A sibling engine over the same memory, index and LLM with another task, streaming or
        answer mode."""
        return type(self)(self.retriever, self.llm, task=task or self.task,
                          streaming=self.streaming if streaming is None else streaming,
                          answer_mode=answer_mode or self.answer_mode, callback_manager=self.callback_manager)

    # -- a corpus that changes (see MemoRAGRetriever) ---------------------------------------------
    def insert(self, document: Any) -> None:
        """Add a document to the memory and the index."""
        self.retriever.insert(document)

    def delete_ref_doc(self, ref_doc_id: str) -> None:
        """Remove a document from the memory and the index."""
        self.retriever.delete_ref_doc(ref_doc_id)

    def update_ref_doc(self, document: Any) -> None:
        """Replace the document of the same id in the memory and the index."""
        self.retriever.update_ref_doc(document)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}  # MemoRAG's prompts come from the core's prompt sets

    # -- persistence -----------------------------------------------------------------------------
    def persist(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save memory, chunks, documents and the LlamaIndex storage into ``folder`` atomically."""
        from llama_index.query_engine.memorag.persist import persist_retriever

        return persist_retriever(self.retriever, self.task, folder, overwrite=overwrite)

    @classmethod
    def load(cls, folder: str | os.PathLike, *, llm: LLM | None = None, memory: Memory | LLM | None = None,
             embed_model: BaseEmbedding | None = None, **options: Any) -> MemoRAGQueryEngine:
        """Load a folder written by :meth:`persist`; see :func:`~.persist.load_retriever`. ``streaming``
        is this engine's; the other ``options`` override the saved settings (``k``, ``task``,
        ``similarity_top_k``...)."""
        from llama_index.query_engine.memorag.persist import load_retriever

        streaming = options.pop("streaming", False)
        retriever, task = load_retriever(folder, memory=memory, embed_model=embed_model, **options)
        return cls(retriever, llm, task=task, streaming=streaming)

    # -- querying --------------------------------------------------------------------------------
    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self.retriever.retrieve(query_bundle)

    async def aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await self.retriever.aretrieve(query_bundle)

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        t0 = time.perf_counter()
        task, bundle, prompts = self._start(query_bundle)
        if task.retrieves and bundle.clues is None:
            t = time.perf_counter()
            bundle.clues, bundle.asked = self.retriever.expand(bundle.query_str, task.name), True
            bundle.timings["expand"] = time.perf_counter() - t
        nodes = self.retriever.retrieve(bundle) if task.retrieves else []
        prompt, metadata = self._prompt(task, bundle, prompts, nodes), self._metadata(task, bundle)
        t1 = time.perf_counter()
        extracted = self._extract(task, bundle, nodes, metadata)
        if extracted is not None:
            return self._quoted(extracted, nodes, metadata, t0, t1)
        memory, unanswered = self._answerer(task, prompts, nodes)
        if self.streaming:
            return StreamingResponse(self._stream(memory, prompt, metadata, t0, unanswered), source_nodes=nodes,
                                     metadata=metadata)
        t1 = time.perf_counter()
        if unanswered:
            text = unanswered
        elif memory is not None:
            text = memory.generate(prompt, self.core.answer_tokens)
        else:
            text = self.llm.complete(prompt).text
        _finish_timings(metadata, t0, t1)
        return Response(text.strip(), source_nodes=nodes, metadata=metadata)

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        t0 = time.perf_counter()
        task, bundle, prompts = self._start(query_bundle)
        if task.retrieves and bundle.clues is None:
            t = time.perf_counter()
            bundle.clues, bundle.asked = await self.retriever.aexpand(bundle.query_str, task.name), True
            bundle.timings["expand"] = time.perf_counter() - t
        nodes = await self.retriever.aretrieve(bundle) if task.retrieves else []
        prompt, metadata = self._prompt(task, bundle, prompts, nodes), self._metadata(task, bundle)
        t1 = time.perf_counter()
        extracted = await asyncio.to_thread(self._extract, task, bundle, nodes, metadata)
        if extracted is not None:
            return self._quoted(extracted, nodes, metadata, t0, t1, asynchronous=True)
        memory, unanswered = self._answerer(task, prompts, nodes)
        if self.streaming:
            return AsyncStreamingResponse(self._astream(memory, prompt, metadata, t0, unanswered), source_nodes=nodes,
                                          metadata=metadata)
        t1 = time.perf_counter()
        if unanswered:
            text = unanswered
        elif memory is not None:
            text = await memory.agenerate(prompt, self.core.answer_tokens)
        else:
            text = (await self.llm.acomplete(prompt)).text
        _finish_timings(metadata, t0, t1)
        return Response(text.strip(), source_nodes=nodes, metadata=metadata)

    # -- extractive answers ------------------------------------------------------------------------
    def answer_mode_for(self, task: Task) -> str:
        """``"extractive"`` or ``"generate"`` for ``task``: this engine's ``answer_mode`` or else
        the core engine's, with ``auto`` resolved for the model that writes the answer (``llm``; the
        memory's own model for ``qa``, which has no evidence to quote)."""
        if self.answer_mode is None and not task.retrieves:
            return "generate"
        writer: TextGenerator | None
        if task.memory_answers:
            writer = self.core.memory.generator
        else:
            writer = self.llm.generator if isinstance(self.llm, GeneratorLLM) else None
        return resolve_answer_mode(self.answer_mode or self.core.answer_mode, retrieves=task.retrieves,
                                   generator=writer)

    def _extract(self, task: Task, bundle: MemoRAGQueryBundle, nodes: list[NodeWithScore],
                 metadata: dict[str, Any]) -> Extracted | None:
        """The core's extractive answer over ``nodes`` in extractive mode (None otherwise, or when
        there is nothing to quote); ``metadata`` gets the mode and the quotes."""
        mode = self.answer_mode_for(task)
        metadata.update(answer_mode=mode, quotes=[])
        if mode != "extractive":
            return None
        doc_ids = self.retriever.doc_ids()
        documents = None if doc_ids is None else self.core.select(doc_ids)
        extracted = self.core.extract(query=bundle.query_str, task=task, evidence=[_evidence(n) for n in nodes],
                                      documents=documents)
        if extracted is not None:
            metadata["quotes"] = [q.to_dict() for q in extracted.quotes]
        return extracted

    def _quoted(self, extracted: Extracted, nodes: list[NodeWithScore], metadata: dict[str, Any], t0: float,
                t1: float, *, asynchronous: bool = False) -> RESPONSE_TYPE:
        """The extractive answer as a response; its source nodes gain the central passages an
        extractive summary quotes, so that ``[n]`` names ``source_nodes[n - 1]``."""
        nodes = nodes + [self._node(e) for e in extracted.evidence[len(nodes):]]
        if not self.streaming:
            _finish_timings(metadata, t0, t1, "extract")
            return Response(extracted.text, source_nodes=nodes, metadata=metadata)

        def quoted() -> Generator[str, None, None]:
            yield from pieces(extracted.text)
            _finish_timings(metadata, t0, t1, "extract")

        async def aquoted() -> AsyncGenerator[str, None]:
            for piece in pieces(extracted.text):
                yield piece
            _finish_timings(metadata, t0, t1, "extract")

        if asynchronous:
            return AsyncStreamingResponse(aquoted(), source_nodes=nodes, metadata=metadata)
        return StreamingResponse(quoted(), source_nodes=nodes, metadata=metadata)

    def _node(self, evidence: Evidence) -> NodeWithScore:
        """A passage the core added (a summary's central one) as a node, placed like the others."""
        start, end = evidence.char_span
        (node,) = chunk_nodes(self.core.documents, [Chunk(evidence.chunk_id or 0, evidence.doc_id, start, end,
                                                           evidence.text)])
        node.metadata[MATCHED_QUERIES] = list(evidence.matched_queries)
        return NodeWithScore(node=node, score=evidence.score)

    @property
    def core(self) -> MemoRAG:
        """The core engine: memory, fusion settings, token limits."""
        return self.retriever.engine

    @property
    def memory(self) -> Memory:
        return self.core.memory

    def _answerer(self, task: Task, prompts: PromptSet, nodes: list[NodeWithScore]) -> tuple[Memory | None, str | None]:
        """The memory that answers (for ``qa``: the filtered part; None for the LLM) and the reply
        when there is nothing to answer from (no evidence, or filters that match no document)."""
        if not task.memory_answers:
            return None, task.unanswered(prompts, nodes)
        memory = self.retriever.memory()
        return memory, prompts.nothing_found if memory is None else None

    def _start(self, query_bundle: QueryBundle) -> tuple[Task, MemoRAGQueryBundle, PromptSet]:
        """Check the query and the memory; prompts in the query's language, else the corpus's."""
        task, query, prompts = self.core.check_query(query_bundle.query_str or "", self.task)
        return task, MemoRAGQueryBundle(query, clues=getattr(query_bundle, "clues", None)), prompts

    @staticmethod
    def _prompt(task: Task, bundle: MemoRAGQueryBundle, prompts: PromptSet, nodes: list[NodeWithScore]) -> str:
        return task.prompt(prompts, bundle.query_str, [n.node.get_content() for n in nodes])

    def _metadata(self, task: Task, bundle: MemoRAGQueryBundle) -> dict[str, Any]:
        clues = bundle.clues or Clues()
        queries = self.retriever.queries(bundle.query_str, clues) if task.retrieves else []
        return {"task": task.name, "clues": list(clues.spans), "surrogate_questions": list(clues.surrogate_questions),
                "draft": clues.draft, "queries": queries, "timings": dict(bundle.timings)}

    # -- streaming -------------------------------------------------------------------------------
    def _stream(self, memory: Memory | None, prompt: str, metadata: dict[str, Any], t0: float,
                unanswered: str | None) -> Generator[str, None, None]:
        t1 = time.perf_counter()
        if unanswered:
            yield unanswered
        elif memory is not None:
            yield from memory.stream(prompt, self.core.answer_tokens)
        else:
            for chunk in self.llm.stream_complete(prompt):
                if chunk.delta:
                    yield chunk.delta
        _finish_timings(metadata, t0, t1)

    async def _astream(self, memory: Memory | None, prompt: str, metadata: dict[str, Any], t0: float,
                       unanswered: str | None) -> AsyncGenerator[str, None]:
        t1 = time.perf_counter()
        if unanswered:
            yield unanswered
        elif memory is not None:
            async for piece in memory.astream(prompt, self.core.answer_tokens):
                yield piece
        else:
            async for chunk in await self.llm.astream_complete(prompt):
                if chunk.delta:
                    yield chunk.delta
        _finish_timings(metadata, t0, t1)


def _finish_timings(metadata: dict[str, Any], t0: float, t1: float, step: str = "generate") -> None:
    now = time.perf_counter()
    metadata["timings"].update({step: now - t1, "total": now - t0})


def _evidence(hit: NodeWithScore) -> Evidence:
    """A retrieved node as the core's evidence; one without an exact place in a memorized document
    (a store's own node) is kept, empty, so that the numbering of the source nodes holds."""
    meta = hit.node.metadata
    start, end = meta.get("start"), meta.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or "doc_id" not in meta:
        return Evidence("", 0.0, str(meta.get("doc_id", "")), (0, 0))
    return Evidence(hit.node.get_content(), float(hit.score or 0.0), str(meta["doc_id"]), (start, end),
                    list(meta.get(MATCHED_QUERIES, [])))
