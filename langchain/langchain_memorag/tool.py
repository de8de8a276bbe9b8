"""``create_memorag_tool``: "ask the long document" as a tool for agents."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field

from langchain_memorag.chain import create_memorag_chain
from langchain_memorag.retriever import MemoRAGRetriever

DESCRIPTION = (
    "Ask the long document a question in natural language. It has been read in full by a memory model, "
    "so vague, global or summary questions work too. Returns an answer grounded in passages of the document "
    "(or the passages themselves)."
)


class AskDocument(BaseModel):
    """The arguments of the tool."""

    query: str = Field(description="the question to ask the long document, in natural language")


class MemoRAGTool(BaseTool):
    """Answers from the memorized document; the retrieved ``Document`` s travel as the artifact.

    With ``llm`` the content is the answer written by that model from the passages; without it the
    content is the numbered passages themselves, for the agent's own model to read.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = "ask_long_document"
    description: str = DESCRIPTION
    args_schema: type[BaseModel] = AskDocument
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    retriever: MemoRAGRetriever
    llm: BaseChatModel | None = None
    k: int | None = None

    def _run(self, query: str, run_manager: CallbackManagerForToolRun | None = None) -> tuple[str, list[Document]]:
        config = _config(run_manager)
        if self.llm is None:
            docs = self.retriever.invoke(query, config, **self._k())
            return format_passages(docs), docs
        result = self._chain().invoke(query, config)
        return result["answer"], result["context"]

    async def _arun(self, query: str,
                    run_manager: AsyncCallbackManagerForToolRun | None = None) -> tuple[str, list[Document]]:
        config = _config(run_manager)
        if self.llm is None:
            docs = await self.retriever.ainvoke(query, config, **self._k())
            return format_passages(docs), docs
        result = await self._chain().ainvoke(query, config)
        return result["answer"], result["context"]

    def _k(self) -> dict[str, Any]:
        return {} if self.k is None else {"k": self.k}

    def _chain(self):
        retriever = self.retriever if self.k is None else self.retriever.model_copy(update={"k": self.k})
        return create_memorag_chain(retriever, self.llm)


def create_memorag_tool(retriever: MemoRAGRetriever, llm: BaseChatModel | None = None, *,
                        name: str = "ask_long_document", description: str = DESCRIPTION,
                        k: int | None = None) -> MemoRAGTool:
    """A tool for agents (``langchain.agents.create_agent(model, tools=[tool])``) that asks the
    document behind ``retriever``; see :class:`MemoRAGTool`."""
    return MemoRAGTool(retriever=retriever, llm=llm, name=name, description=description, k=k)


def format_passages(docs: list[Document]) -> str:
    """Numbered passages naming their source document and char span."""
    if not docs:
        return "No passage of the document matches this question."
    return "\n\n".join(f"[{i}] ({d.metadata.get('doc_id', '?')} {d.metadata.get('start', '?')}-"
                       f"{d.metadata.get('end', '?')}) {d.page_content.strip()}" for i, d in enumerate(docs, 1))


def _config(run_manager: CallbackManagerForToolRun | AsyncCallbackManagerForToolRun | None) -> RunnableConfig | None:
    return {"callbacks": run_manager.get_child()} if run_manager is not None else None
