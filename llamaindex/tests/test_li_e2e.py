"""End to end with the real embedded models (SmolLM2-135M-Instruct, all-MiniLM-L6-v2) on real text,
over the simple vector store and FAISS, in LlamaIndex's own loops (query engines, events, agents)."""

import asyncio
import json

import faiss
import pytest
from li_support import FAST, QUESTION, recording, reference_text
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, ToolCallBlock
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.llms import MockFunctionCallingLLM
from llama_index.llms.memorag import GeneratorLLM
from llama_index.query_engine.memorag import MemoRAGQueryEngine
from llama_index.retrievers.memorag import MemoRAGEmbedding, MemoRAGRetriever, chunk_nodes
from llama_index.tools.memorag import ask_document_tool
from llama_index.vector_stores.faiss import FaissVectorStore

from memorag_integrations.llm.transformers import TransformersGenerator
from memorag_integrations.memory.kv import KVMemory

pytestmark = pytest.mark.slow
TEXT = reference_text()


@pytest.fixture(scope="module")
def lm():
    return TransformersGenerator()


@pytest.fixture(scope="module")
def embed():
    return MemoRAGEmbedding()


@pytest.fixture(scope="module")
def simple(lm, embed):
    """Memorized once: the default simple vector store, the memory's model answering, with the
    memory's clues (the embedded model writes them only when asked) for the tests to follow."""
    return MemoRAGQueryEngine.from_documents([Document(text=TEXT, doc_id="langref")], memory=KVMemory(lm),
                                             embed_model=embed, write_clues=True, **FAST)


@pytest.fixture(scope="module")
def on_faiss(simple, embed):
    """The same memory, with the chunks in a FAISS vector store the user built."""
    core = simple.retriever.engine
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(384))
    index = VectorStoreIndex(chunk_nodes(core.documents, core.retriever), embed_model=embed,
                             storage_context=StorageContext.from_defaults(vector_store=store))
    return MemoRAGQueryEngine(MemoRAGRetriever(core, index), simple.llm)


@pytest.fixture(scope="module")
def first(simple):
    """One answer, recorded with everything the root dispatcher saw."""
    with recording() as (events, spans):
        response = simple.query(QUESTION)
    return response, events, spans


def node_ids(response):
    return [n.node.node_id for n in response.source_nodes]


def test_answer_sources_metadata_events_and_spans(first):
    response, events, spans = first
    assert str(response).strip() and 1 <= len(response.source_nodes) <= 3
    for hit in response.source_nodes:
        meta = hit.node.metadata
        assert TEXT[meta["start"]:meta["end"]] == hit.node.get_content() and meta["doc_id"] == "langref"
        found_by = {QUESTION, f"{QUESTION} (second round)", *response.metadata["queries"]}
        assert set(meta["matched_queries"]) & found_by
    assert any("break" in hit.node.get_content() for hit in response.source_nodes)
    meta = response.metadata
    assert meta["clues"] or meta["surrogate_questions"], "the memory wrote no clue at all"
    # The embedded model answers by quoting the evidence: sentences of the text at their exact spans.
    assert meta["answer_mode"] == "extractive" and meta["quotes"]
    assert all(TEXT[slice(*q["char_span"])] == q["text"] for q in meta["quotes"])
    assert set(meta["timings"]) == {"expand", "retrieve", "extract", "total"}

    names = events.names()
    for name in ("QueryStartEvent", "MemoRAGCluesEvent", "RetrievalEndEvent", "QueryEndEvent"):
        assert name in names, name
    clue_event = next(e for e in events.events if e.class_name() == "MemoRAGCluesEvent")
    assert clue_event.spans == meta["clues"] and clue_event.surrogate_questions == meta["surrogate_questions"]
    assert {"MemoRAGQueryEngine.query", "MemoRAGRetriever._retrieve"} <= {
        s.id_.split("-")[0] for s in spans.completed_spans}


async def test_async_query_matches_sync(simple, first):
    response = await simple.aquery(QUESTION)
    assert str(response) == str(first[0]) and node_ids(response) == node_ids(first[0])
    assert response.metadata["clues"] == first[0].metadata["clues"]


async def test_faiss_store_streams_the_same_answer(on_faiss, first):
    streaming = on_faiss.with_options(streaming=True)
    sync = streaming.query(QUESTION)
    assert isinstance(sync, StreamingResponse)
    assert "".join(sync.response_gen).strip() == str(first[0]) and node_ids(sync) == node_ids(first[0])
    asyn = await streaming.aquery(QUESTION)
    assert isinstance(asyn, AsyncStreamingResponse)
    assert "".join([p async for p in asyn.async_response_gen()]).strip() == str(first[0])
    assert "extract" in asyn.metadata["timings"]


def test_generate_mode_has_the_model_write_the_answer(simple):
    with recording() as (events, _):
        response = simple.with_options(answer_mode="generate").query(QUESTION)
    assert str(response).strip() and response.metadata["answer_mode"] == "generate"
    assert "generate" in response.metadata["timings"] and "LLMCompletionEndEvent" in events.names()


def test_qa_and_summarize(simple):
    qa = simple.with_options(task="qa").query("What does the assert statement do?")
    assert str(qa).strip() and qa.source_nodes == []
    summary = simple.with_options(task="summarize").query("")
    assert str(summary).strip() and summary.source_nodes and summary.metadata["clues"]


async def test_async_retrieval_leaves_the_event_loop_free(simple):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    nodes = await simple.retriever.aretrieve(QUESTION)
    task.cancel()
    assert nodes and ticks >= 5, f"the loop ran only {ticks} times while the memory was writing clues"


def test_persist_and_reload_give_identical_answers(simple, on_faiss, first, lm, embed, tmp_path):
    saved = simple.persist(tmp_path / "simple")
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["retriever"]["embedder"] == "all-minilm-l6-v2" and (saved / "memory.safetensors").is_file()
    reloaded = MemoRAGQueryEngine.load(saved)  # models rebuilt from the manifest alone
    again = reloaded.query(QUESTION)
    assert str(again) == str(first[0]) and node_ids(again) == node_ids(first[0])

    saved_faiss = on_faiss.persist(tmp_path / "faiss")
    assert json.loads((saved_faiss / "manifest.json").read_text())["vector_store"] == "FaissVectorStore"
    from_faiss = MemoRAGQueryEngine.load(saved_faiss, memory=KVMemory(lm), embed_model=embed)
    assert str(from_faiss.query(QUESTION)) == str(first[0])


def test_a_llamaindex_llm_as_the_memory(lm, embed):
    llm = GeneratorLLM(lm, max_new_tokens=FAST["answer_tokens"])
    engine = MemoRAGQueryEngine.from_documents(Document(text=TEXT, doc_id="langref"), memory=llm, llm=llm,
                                               embed_model=embed, **FAST)
    assert engine.memory.kind == "prompt" and engine.memory.identity == "llamaindex:smollm2-135m-instruct"
    response = engine.query(QUESTION)
    assert str(response).strip() and response.source_nodes
    assert response.metadata["clues"] or response.metadata["surrogate_questions"]


async def test_function_agent_calls_the_tool_and_keeps_the_sources(simple, first):
    def script(messages, **kwargs):
        """A function-calling LLM's two turns: call the tool, then answer from its output."""
        tool_turns = [m for m in messages if m.role == "tool"]
        if tool_turns:
            return ChatMessage(role="assistant", content="The document says: " + tool_turns[-1].content)
        return ChatMessage(role="assistant", blocks=[
            ToolCallBlock(tool_call_id="call-1", tool_name="ask_document", tool_kwargs={"input": QUESTION})])

    tool = ask_document_tool(simple, title="the Python Language Reference")
    agent = FunctionAgent(tools=[tool], llm=MockFunctionCallingLLM(response_generator=script),
                          system_prompt="Answer with the ask_document tool.")
    handler = agent.run(user_msg=QUESTION)
    results = [ev async for ev in handler.stream_events() if isinstance(ev, ToolCallResult)]
    final = await handler
    assert len(results) == 1 and results[0].tool_name == "ask_document"
    response = results[0].tool_output.raw_output
    assert str(response) == str(first[0]) and node_ids(response) == node_ids(first[0])
    assert str(first[0]) in str(final) and "Sources:\n[1] langref chars " in str(final)
