"""Agent tools over a MemoRAG query engine: ask the long document, or have it summarized."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.response.schema import RESPONSE_TYPE
from llama_index.core.tools import QueryEngineTool, ToolMetadata, ToolOutput
from llama_index.query_engine.memorag import MemoRAGQueryEngine
from pydantic import BaseModel, Field

ASK_DESCRIPTION = (
    "Answers a question about the long document '{title}' from a memory of the whole text plus the passages "
    "it points to. Good for broad, implicit or multi-part questions, not only keyword look-ups. Input: the "
    "question in plain words. Output: the answer, then the numbered source passages with their positions."
)
SUMMARY_DESCRIPTION = (
    "Summarizes the long document '{title}' from a memory of the whole text. Input: an optional focus "
    "(for example 'the financial results'), or an empty string for a general summary."
)


class DocumentQuestion(BaseModel):
    """The ask tool's argument, described for the agent's model."""

    query: str = Field(description="the question about the document, in plain words")


class SummaryFocus(BaseModel):
    """The summary tool's argument, described for the agent's model."""

    query: str = Field(default="", description="an optional focus for the summary, e.g. 'the financial results'; "
                                                "empty for a general summary")


class MemoRAGQueryEngineTool(QueryEngineTool):
    """A ``QueryEngineTool`` whose output keeps the evidence.

    ``ToolOutput.raw_output`` is the full ``Response`` (``source_nodes`` with char spans and the
    queries that found them; ``metadata`` with clues and timings), and the text the agent reads
    lists the numbered source passages, so it can cite them. The engine always runs without
    streaming here: an agent needs the whole answer.
    """

    def __init__(self, query_engine: MemoRAGQueryEngine, metadata: ToolMetadata, *,
                 include_sources: bool = True, source_chars: int = 300) -> None:
        super().__init__(query_engine.with_options(streaming=False), metadata)
        self.include_sources = include_sources
        self.source_chars = source_chars

    def _get_query_str(self, *args: Any, **kwargs: Any) -> str:
        if not args and "query" in kwargs:  # the described argument of DocumentQuestion / SummaryFocus
            return str(kwargs["query"])
        return super()._get_query_str(*args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> ToolOutput:
        query = self._get_query_str(*args, **kwargs)
        return self._output(query, self.query_engine.query(query))

    async def acall(self, *args: Any, **kwargs: Any) -> ToolOutput:
        query = self._get_query_str(*args, **kwargs)
        return self._output(query, await self.query_engine.aquery(query))

    def _output(self, query: str, response: RESPONSE_TYPE) -> ToolOutput:
        return ToolOutput(content=self.render(response), tool_name=self.metadata.get_name(),
                          raw_input={"query": query}, raw_output=response)

    def render(self, response: RESPONSE_TYPE) -> str:
        """The answer, then ``[i] doc_id chars start-end: passage`` for each source node."""
        text = str(response)
        if not self.include_sources or not response.source_nodes:
            return text
        lines = []
        for i, hit in enumerate(response.source_nodes, 1):
            meta = hit.node.metadata
            where = f"{meta.get('doc_id', hit.node.ref_doc_id)} chars {meta.get('start')}-{meta.get('end')}"
            passage = " ".join(hit.node.get_content().split())[: self.source_chars]
            lines.append(f"[{i}] {where}: {passage}")
        return text + "\n\nSources:\n" + "\n".join(lines)


def ask_document_tool(query_engine: MemoRAGQueryEngine, *, name: str = "ask_document", title: str = "the corpus",
                      description: str | None = None, return_direct: bool = False,
                      include_sources: bool = True) -> MemoRAGQueryEngineTool:
    """A tool for "ask the long document": MemoRAG answers, with the evidence kept in the output."""
    metadata = ToolMetadata(name=name, description=description or ASK_DESCRIPTION.format(title=title),
                            fn_schema=DocumentQuestion, return_direct=return_direct)
    return MemoRAGQueryEngineTool(query_engine.with_options(task="memorag"), metadata,
                                  include_sources=include_sources)


def summarize_document_tool(query_engine: MemoRAGQueryEngine, *, name: str = "summarize_document",
                            title: str = "the corpus", description: str | None = None,
                            return_direct: bool = False) -> MemoRAGQueryEngineTool:
    """A tool that summarizes the whole corpus (task ``summarize``), optionally with a focus."""
    metadata = ToolMetadata(name=name, description=description or SUMMARY_DESCRIPTION.format(title=title),
                            fn_schema=SummaryFocus, return_direct=return_direct)
    return MemoRAGQueryEngineTool(query_engine.with_options(task="summarize"), metadata)


def document_tools(query_engine: MemoRAGQueryEngine, *, title: str = "the corpus") -> list[MemoRAGQueryEngineTool]:
    """Both tools, ready for ``FunctionAgent(tools=...)``."""
    return [ask_document_tool(query_engine, title=title), summarize_document_tool(query_engine, title=title)]
