"""MemoRAGQueryEngine: memory-expanded retrieval, then an answer from the evidence (or from memory)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import llama_index.core.instrumentation as instrument
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.response.schema import (RESPONSE_TYPE, AsyncStreamingResponse, Response,
                                                   StreamingResponse)
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.retrievers.memorag import MemoRAGQueryBundle, MemoRAGRetriever
from llama_index.retrievers.memorag.defaults import resolve_llm

from memorag_integrations.errors import EmptyQueryError, InvalidInputError, NotMemorizedError
from memorag_integrations.memory.base import Memory
from memorag_integrations.prompts import PromptSet, detect_language, format_evidence, get_prompts, parse_items
from memorag_integrations.schema import Clues

dispatcher = instrument.get_dispatcher(__name__)

Task = Literal["memorag", "qa", "summarize"]
TASKS = ("memorag", "qa", "summarize")


class MemoRAGQueryEngine(BaseQueryEngine):
    """Answers questions about a long corpus with MemoRAG.

    Tasks: ``memorag`` (clues from the memory -> retrieval -> answer by ``llm``), ``qa`` (the
    memory answers alone) and ``summarize`` (the memory's key points -> retrieval -> summary; the
    query is optional, a focus for the summary). ``llm`` defaults to ``Settings.llm`` when set,
    else the memory's own model. With ``streaming=True`` :meth:`query` returns a
    ``StreamingResponse`` and :meth:`aquery` an ``AsyncStreamingResponse``.

    ``Response.source_nodes`` are the fused evidence (``metadata`` has ``doc_id``, ``start``,
    ``end`` and ``matched_queries``); ``Response.metadata`` holds the task, ``clues``,
    ``surrogate_questions``, ``draft``, the ``queries`` that searched the index and ``timings``
    in seconds (``generate`` and ``total`` are added once a stream is consumed).
    """

    def __init__(self, retriever: MemoRAGRetriever, llm: LLM | None = None, *, task: Task = "memorag",
                 streaming: bool = False, callback_manager: CallbackManager | None = None) -> None:
        if task not in TASKS:
            raise InvalidInputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
        self.retriever = retriever
        self.task = task
        self.streaming = streaming
        self.llm = resolve_llm(llm, retriever.engine.generator, retriever.engine.answer_tokens)
        super().__init__(callback_manager or retriever.callback_manager)

    @classmethod
    def from_documents(
        cls,
        documents: Iterable[Any] | Any,
        *,
        llm: LLM | None = None,
        memory: Memory | LLM | None = None,
        embed_model: BaseEmbedding | None = None,
        task: Task = "memorag",
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

    def with_options(self, *, task: Task | None = None, streaming: bool | None = None) -> MemoRAGQueryEngine:
        """A sibling engine over the same memory, index and LLM with another task or streaming mode."""
        return type(self)(self.retriever, self.llm, task=task or self.task,
                          streaming=self.streaming if streaming is None else streaming,
                          callback_manager=self.callback_manager)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}  # MemoRAG's prompts come from the core's prompt sets

    # -- persistence -----------------------------------------------------------------------------
    def persist(self, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Save memory, chunks, documents and the LlamaIndex storage into ``folder`` atomically."""
        from llama_index.query_engine.memorag.persist import persist_engine

        return persist_engine(self, folder, overwrite=overwrite)

    @classmethod
    def load(cls, folder: str | os.PathLike, *, llm: LLM | None = None, memory: Memory | LLM | None = None,
             embed_model: BaseEmbedding | None = None, **options: Any) -> MemoRAGQueryEngine:
        """Load a folder written by :meth:`persist`; see :func:`~.persist.load_engine`."""
        from llama_index.query_engine.memorag.persist import load_engine

        return load_engine(cls, folder, llm=llm, memory=memory, embed_model=embed_model, **options)

    # -- querying --------------------------------------------------------------------------------
    def retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self.retriever.retrieve(query_bundle)

    async def aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await self.retriever.aretrieve(query_bundle)

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        t0 = time.perf_counter()
        bundle, prompts = self._bundle(query_bundle)
        if self.task == "summarize":
            t = time.perf_counter()
            points = self.memory.generate(prompts.key_points, self.retriever.engine.answer_tokens)
            bundle.clues, bundle.timings["expand"] = Clues(spans=parse_items(points)), time.perf_counter() - t
        nodes = [] if self.task == "qa" else self.retriever.retrieve(bundle)
        prompt, metadata = self._prompt(bundle, prompts, nodes), self._metadata(bundle)
        if self.streaming:
            return StreamingResponse(self._stream(prompt, metadata, t0), source_nodes=nodes, metadata=metadata)
        t1 = time.perf_counter()
        if self.task == "qa":
            text = self.memory.generate(prompt, self.retriever.engine.answer_tokens)
        else:
            text = self.llm.complete(prompt).text
        _finish_timings(metadata, t0, t1)
        return Response(text.strip(), source_nodes=nodes, metadata=metadata)

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        t0 = time.perf_counter()
        bundle, prompts = self._bundle(query_bundle)
        if self.task == "summarize":
            t = time.perf_counter()
            points = await self.memory.agenerate(prompts.key_points, self.retriever.engine.answer_tokens)
            bundle.clues, bundle.timings["expand"] = Clues(spans=parse_items(points)), time.perf_counter() - t
        nodes = [] if self.task == "qa" else await self.retriever.aretrieve(bundle)
        prompt, metadata = self._prompt(bundle, prompts, nodes), self._metadata(bundle)
        if self.streaming:
            return AsyncStreamingResponse(self._astream(prompt, metadata, t0), source_nodes=nodes, metadata=metadata)
        t1 = time.perf_counter()
        if self.task == "qa":
            text = await self.memory.agenerate(prompt, self.retriever.engine.answer_tokens)
        else:
            text = (await self.llm.acomplete(prompt)).text
        _finish_timings(metadata, t0, t1)
        return Response(text.strip(), source_nodes=nodes, metadata=metadata)

    @property
    def memory(self) -> Memory:
        return self.retriever.engine.memory

    def _bundle(self, query_bundle: QueryBundle) -> tuple[MemoRAGQueryBundle, PromptSet]:
        """Check the query and pick the prompt language: the query's, else the corpus's."""
        if not self.memory.is_ready:
            raise NotMemorizedError("nothing is memorized yet: build the engine with from_documents(...) or load(dir)")
        query = (query_bundle.query_str or "").strip()
        if not query and self.task != "summarize":
            raise EmptyQueryError("the query is empty; ask a question (or use task='summarize')")
        bundle = MemoRAGQueryBundle(query, clues=getattr(query_bundle, "clues", None))
        return bundle, get_prompts(detect_language(query) if query else self.memory.language)

    def _prompt(self, bundle: MemoRAGQueryBundle, prompts: PromptSet, nodes: list[NodeWithScore]) -> str:
        if self.task == "qa":
            return prompts.memory_answer.format(query=bundle.query_str)
        passages = format_evidence([n.node.get_content() for n in nodes], prompts)
        if self.task == "summarize":
            focus = f"\n\n{bundle.query_str}" if bundle.query_str else ""
            return prompts.summary.format(evidence=passages) + focus
        return prompts.answer.format(evidence=passages, query=bundle.query_str)

    def _metadata(self, bundle: MemoRAGQueryBundle) -> dict[str, Any]:
        clues = bundle.clues or Clues()
        queries = [] if self.task == "qa" else self.retriever.queries(bundle.query_str, clues)
        return {"task": self.task, "clues": list(clues.spans), "surrogate_questions": list(clues.surrogate_questions),
                "draft": clues.draft, "queries": queries, "timings": dict(bundle.timings)}

    # -- streaming -------------------------------------------------------------------------------
    def _stream(self, prompt: str, metadata: dict[str, Any], t0: float) -> Iterator[str]:
        t1 = time.perf_counter()
        if self.task == "qa":
            yield from self.memory.stream(prompt, self.retriever.engine.answer_tokens)
        else:
            for chunk in self.llm.stream_complete(prompt):
                if chunk.delta:
                    yield chunk.delta
        _finish_timings(metadata, t0, t1)

    async def _astream(self, prompt: str, metadata: dict[str, Any], t0: float) -> AsyncIterator[str]:
        t1 = time.perf_counter()
        if self.task == "qa":
            # Memories stream synchronously; each piece is pulled in a worker thread.
            pieces, done = self.memory.stream(prompt, self.retriever.engine.answer_tokens), object()
            while (piece := await asyncio.to_thread(next, pieces, done)) is not done:
                yield piece  # type: ignore[misc]
        else:
            async for chunk in await self.llm.astream_complete(prompt):
                if chunk.delta:
                    yield chunk.delta
        _finish_timings(metadata, t0, t1)


def _finish_timings(metadata: dict[str, Any], t0: float, t1: float) -> None:
    now = time.perf_counter()
    metadata["timings"].update(generate=now - t1, total=now - t0)
