"""The agent tool: LangChain's standard tool suite, content-and-artifact answers, an agent loop."""

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_tests.unit_tests import ToolsUnitTests
from lc_support import QUESTION, chat_model, fake_retriever, kv_retriever, reference_text

from langchain_memorag import MemoRAGTool, create_memorag_tool


class TestStandardTool(ToolsUnitTests):
    @property
    def tool_constructor(self):
        return MemoRAGTool

    @property
    def tool_constructor_params(self):
        return {"retriever": fake_retriever()}

    @property
    def tool_invoke_params_example(self):
        return {"query": QUESTION}


def call(tool, query: str) -> ToolMessage:
    return tool.invoke({"type": "tool_call", "id": "call-1", "name": tool.name, "args": {"query": query}})


def test_tool_answers_with_passages_and_documents_as_artifact():
    # Pure logic on fakes; the real-model runs are below.
    message = call(create_memorag_tool(fake_retriever(), k=1), "loops?")
    assert isinstance(message, ToolMessage) and message.tool_call_id == "call-1"
    assert len(message.artifact) == 1 and isinstance(message.artifact[0], Document)
    assert message.content.startswith("[1] (doc-0 ") and message.artifact[0].page_content.strip() in message.content


@pytest.mark.slow
async def test_tool_over_the_real_engine_with_and_without_an_llm():
    passages = call(create_memorag_tool(kv_retriever()), QUESTION)
    assert len(passages.artifact) == 3 and "break" in passages.content
    for doc in passages.artifact:
        assert reference_text()[doc.metadata["start"]:doc.metadata["end"]] == doc.page_content
    tool = create_memorag_tool(kv_retriever(), chat_model(), k=2)
    answered = call(tool, QUESTION)
    assert answered.content.strip() and len(answered.artifact) == 2
    again = await tool.ainvoke({"type": "tool_call", "id": "call-2", "name": tool.name, "args": {"query": QUESTION}})
    assert again.content == answered.content and [d.id for d in again.artifact] == [d.id for d in answered.artifact]


class ScriptedToolCaller(BaseChatModel):
    """Calls the tool once, then answers with what the tool returned (what an agent's model would do)."""

    tool_name: str

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-caller"

    def bind_tools(self, tools: Any, **kwargs: Any):
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            question = next(m for m in messages if isinstance(m, HumanMessage)).content
            reply = AIMessage(content="", tool_calls=[{"name": self.tool_name, "args": {"query": question},
                                                       "id": "call-1", "type": "tool_call"}])
        else:
            reply = AIMessage(content="From the document: " + results[-1].content[:200])
        return ChatResult(generations=[ChatGeneration(message=reply)])


@pytest.mark.slow
def test_agent_loop_with_create_agent():
    create_agent = pytest.importorskip("langchain.agents", reason="create_agent needs langchain").create_agent

    tool = create_memorag_tool(kv_retriever(), chat_model())
    agent = create_agent(ScriptedToolCaller(tool_name=tool.name), tools=[tool])
    state = agent.invoke({"messages": [HumanMessage(QUESTION)]})
    messages = state["messages"]
    (result,) = [m for m in messages if isinstance(m, ToolMessage)]
    assert result.name == tool.name and result.content.strip()
    assert result.artifact and all(isinstance(d, Document) for d in result.artifact)
    assert messages[-1].content == "From the document: " + result.content[:200]
