"""Adapter logic with the core's fakes (scripted memory, hashed embeddings): fast and exact."""

import json
import subprocess
import sys

import faiss
import pytest
from li_support import LAUNCH_TEXT, ROOT, HashEmbedder, ScriptedGenerator, recording
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.query_engine.memorag import MemoRAGQueryEngine
from llama_index.retrievers.memorag import (MemoRAGEmbedding, MemoRAGQueryBundle, MemoRAGRetriever, chunk_nodes,
                                            to_core_documents)
from llama_index.tools.memorag import ask_document_tool, document_tools
from llama_index.vector_stores.faiss import FaissVectorStore

from memorag_integrations import (Clues, EmptyQueryError, IncompatibleStoreError, InvalidInputError, MemoRAG,
                                  PromptMemory, StoreExistsError)
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.schema import Chunk

OPTIONS = {"k": 3, "chunk_tokens": 20, "chunk_overlap": 2, "per_query_top_k": 2}


def fake_engine(**kwargs) -> MemoRAGQueryEngine:
    docs = [Document(text=LAUNCH_TEXT, doc_id="log")]
    return MemoRAGQueryEngine.from_documents(docs, memory=PromptMemory(ScriptedGenerator()),
                                             embed_model=MemoRAGEmbedding(HashEmbedder()), **OPTIONS, **kwargs)


def faiss_store(dim=128) -> FaissVectorStore:
    return FaissVectorStore(faiss_index=faiss.IndexFlatIP(dim))


@pytest.fixture
def engine():
    return fake_engine()


def core_chunk(meta) -> Chunk:
    return Chunk(0, meta["doc_id"], meta["start"], meta["end"], LAUNCH_TEXT[meta["start"]:meta["end"]])


def test_nodes_are_exact_spans_with_stable_ids():
    docs = to_core_documents([Document(text=LAUNCH_TEXT, doc_id="log", metadata={"source": "log.txt"})])
    nodes = chunk_nodes(docs, DenseRetriever(HashEmbedder(), chunk_tokens=20, chunk_overlap=2))
    assert len(nodes) > 3
    for node in nodes:
        meta = node.metadata
        assert LAUNCH_TEXT[meta["start"]:meta["end"]] == node.text and meta["doc_id"] == "log"
        assert node.node_id == core_chunk(meta).stable_id and node.ref_doc_id == "log"
        assert len(node.node_id) == 36  # a UUID: every vector store takes it
        assert node.get_content(metadata_mode="embed") == node.text  # positions never leak into embeddings
        assert "source: log.txt" in node.get_content(metadata_mode="llm")


def test_retriever_fuses_the_clues_and_says_which_queries_found_each_node(engine):
    bundle = MemoRAGQueryBundle("When did it start?")
    nodes = engine.retriever.retrieve(bundle)
    assert bundle.clues.spans == ["the launch happened in 1969", "crew of three"]
    assert bundle.clues.surrogate_questions == ["When did the launch happen?", "Who was in the crew?"]
    assert 1 <= len(nodes) <= 3 and set(bundle.timings) == {"expand", "retrieve"}
    assert [n.score for n in nodes] == sorted((n.score for n in nodes), reverse=True)
    # Found by the clues: the vague question shares no word with any chunk (its own hits are ties).
    clue_queries = set(bundle.clues.queries())
    assert any("1969" in n.node.get_content() and clue_queries & set(n.node.metadata["matched_queries"])
               for n in nodes)
    allowed = {"When did it start?", "When did it start? (second round)", *bundle.clues.queries()}
    for n in nodes:
        assert n.node.metadata["matched_queries"] and set(n.node.metadata["matched_queries"]) <= allowed
    stored = engine.retriever.index.docstore.get_node(nodes[0].node.node_id)
    assert "matched_queries" not in stored.metadata  # results are copies


def test_given_clues_skip_the_memory_and_empty_clues_are_plain_retrieval(engine):
    engine.query("When did it start?")
    memory_calls = engine.memory.generator.calls
    before = len(memory_calls)
    plain = engine.retriever.retrieve(MemoRAGQueryBundle("weather wind rain", clues=Clues()))
    assert len(memory_calls) == before
    assert all(set(n.node.metadata["matched_queries"]) <= {"weather wind rain", "weather wind rain (second round)"}
               for n in plain)
    given = engine.retriever.retrieve(MemoRAGQueryBundle("x y", clues=Clues(spans=["crew of three flew"])))
    assert len(memory_calls) == before
    crew = [n for n in given if "crew of three" in n.node.get_content()]
    assert crew and "crew of three flew" in crew[0].node.metadata["matched_queries"]


async def test_async_retrieval_matches_sync(engine):
    sync = engine.retriever.retrieve("When did it start?")
    asyn = await engine.retriever.aretrieve("When did it start?")
    assert [(n.node.node_id, n.score) for n in asyn] == [(n.node.node_id, n.score) for n in sync]


def test_retriever_over_a_user_index_and_a_user_retriever():
    docs = to_core_documents(LAUNCH_TEXT)
    embed = MemoRAGEmbedding(HashEmbedder())
    core = MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(embed.embedder, chunk_tokens=20), k=2)
    core.memory.memorize(docs, progress=False)
    index = VectorStoreIndex(chunk_nodes(docs, core.retriever), embed_model=embed,
                             storage_context=StorageContext.from_defaults(vector_store=faiss_store()))
    by_index = MemoRAGRetriever(core, index).retrieve("When?")
    by_retriever = MemoRAGRetriever(core, index.as_retriever(similarity_top_k=10)).retrieve("When?")
    assert len(by_index) == 2 and [n.node.node_id for n in by_index] == [n.node.node_id for n in by_retriever]


def test_query_engine_response_and_metadata(engine):
    response = engine.query("When did it start?")
    assert str(response) == "ANSWER(1)" and 1 <= len(response.source_nodes) <= 3
    meta = response.metadata
    assert meta["task"] == "memorag" and meta["clues"] == ["the launch happened in 1969", "crew of three"]
    assert meta["surrogate_questions"] == ["When did the launch happen?", "Who was in the crew?"]
    assert meta["draft"] is None and meta["queries"][0] == "When did it start?"
    assert set(meta["timings"]) == {"expand", "retrieve", "generate", "total"}
    prompt = engine.memory.generator.calls[-1]  # the generator's prompt holds the numbered evidence
    assert "[1] " in prompt and response.source_nodes[0].node.get_content().strip() in prompt


def test_draft_is_reported_when_asked():
    meta = fake_engine(use_draft=True).query("When did it start?").metadata
    assert meta["draft"] == "draft: 1969" and "draft: 1969" in meta["queries"]


def test_tasks_qa_and_summarize(engine):
    qa = engine.with_options(task="qa").query("When?")
    assert str(qa) == "draft: 1969" and qa.source_nodes == [] and qa.metadata["queries"] == []
    summary = engine.with_options(task="summarize").query("")
    assert summary.metadata["clues"] == ["launch year", "crew members"] and summary.source_nodes
    assert engine.memory.generator.calls[-1].startswith("Write a concise summary")


async def test_streaming_sync_and_async(engine):
    whole = engine.query("When did it start?")
    streaming = engine.with_options(streaming=True)
    sync = streaming.query("When did it start?")
    assert isinstance(sync, StreamingResponse) and "generate" not in sync.metadata["timings"]
    assert "".join(sync.response_gen) == str(whole) and "generate" in sync.metadata["timings"]
    asyn = await streaming.aquery("When did it start?")
    assert isinstance(asyn, AsyncStreamingResponse)
    assert "".join([p async for p in asyn.async_response_gen()]) == str(whole)
    assert [n.node.node_id for n in asyn.source_nodes] == [n.node.node_id for n in whole.source_nodes]


def test_events_reach_a_root_handler(engine):
    with recording() as (events, spans):
        engine.query("When did it start?")
    names = events.names()
    for name in ("QueryStartEvent", "RetrievalStartEvent", "MemoRAGCluesEvent", "RetrievalEndEvent",
                 "LLMCompletionStartEvent", "QueryEndEvent"):
        assert name in names, name
    clues = next(e for e in events.events if e.class_name() == "MemoRAGCluesEvent")
    assert clues.query == "When did it start?" and clues.spans[0] == "the launch happened in 1969"
    span_names = [s.id_.split("-")[0] for s in spans.completed_spans]
    assert "MemoRAGQueryEngine.query" in span_names and "MemoRAGRetriever._retrieve" in span_names


def test_bad_input_raises_typed_errors(engine):
    with pytest.raises(EmptyQueryError):
        engine.query("  ")
    with pytest.raises(InvalidInputError, match="unknown task"):
        engine.with_options(task="translate")
    with pytest.raises(InvalidInputError, match="memory must be"):
        MemoRAGQueryEngine.from_documents("text", memory=42)


def test_tool_output_keeps_the_source_nodes(engine):
    tool = ask_document_tool(engine.with_options(streaming=True), title="the flight log")
    assert tool.metadata.name == "ask_document" and "the flight log" in tool.metadata.description
    output = tool.call(input="When did it start?")
    response = output.raw_output
    assert not isinstance(response, StreamingResponse) and response.source_nodes
    assert output.content.startswith("ANSWER(1)\n\nSources:\n[1] log chars ")
    first = response.source_nodes[0].node
    assert f"chars {first.metadata['start']}-{first.metadata['end']}" in output.content
    assert [t.metadata.name for t in document_tools(engine)] == ["ask_document", "summarize_document"]


@pytest.mark.parametrize("store", ["simple", "faiss"])
def test_persist_and_load_round_trip(store, tmp_path):
    engine = fake_engine(vector_store=faiss_store() if store == "faiss" else None)
    before = engine.query("When did it start?")
    folder = engine.persist(tmp_path / "saved")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["retriever"]["embedder"] == "hash-embedder" and manifest["memory"]["kind"] == "prompt"
    assert manifest["vector_store"] == ("FaissVectorStore" if store == "faiss" else "SimpleVectorStore")
    for path in folder.rglob("*"):
        assert path.is_dir() or not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"
    with pytest.raises(StoreExistsError):
        engine.persist(folder)

    memory = PromptMemory(ScriptedGenerator())
    loaded = MemoRAGQueryEngine.load(folder, memory=memory, embed_model=MemoRAGEmbedding(HashEmbedder()))
    after = loaded.query("When did it start?")
    assert str(after) == str(before) and after.metadata["clues"] == before.metadata["clues"]
    assert [(n.node.node_id, n.score) for n in after.source_nodes] == [
        (n.node.node_id, n.score) for n in before.source_nodes]

    with pytest.raises(IncompatibleStoreError, match="hash-embedder"):
        MemoRAGQueryEngine.load(folder, memory=memory)  # the default embedder is not the saved one
    with pytest.raises(IncompatibleStoreError, match="other-embedder"):
        other = MemoRAGEmbedding(HashEmbedder(identity="other-embedder"))
        MemoRAGQueryEngine.load(folder, memory=memory, embed_model=other)


def test_llama_index_namespace_is_left_intact():
    for sub in ("", "llms", "retrievers", "query_engine", "tools"):
        assert not (ROOT / "llamaindex" / "llama_index" / sub / "__init__.py").exists()
    code = ("import llama_index.core, llama_index.llms.memorag, llama_index.retrievers.memorag, "
            "llama_index.query_engine.memorag, llama_index.tools.memorag, llama_index.vector_stores.faiss; "
            "print(llama_index.core.__file__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert "site-packages" in out and str(ROOT / "llamaindex") not in out


def test_top_k_values_follow_the_core_rule(engine):
    core = engine.retriever.engine
    for name in ("similarity_top_k", "per_query_top_k"):
        for bad in (0, -1):
            with pytest.raises(InvalidInputError, match=f"{name} must be a positive integer"):
                MemoRAGRetriever(core, engine.retriever.base_retriever, **{name: bad})
    retriever = MemoRAGRetriever(core, engine.retriever.index)
    assert retriever.similarity_top_k == core.k == 3 and retriever.per_query_top_k == 10
    with pytest.raises(InvalidInputError, match="VectorStoreIndex or a LlamaIndex retriever"):
        MemoRAGRetriever(core, object())


def test_the_engine_behind_an_outside_store_keeps_no_chunks_of_its_own(engine, tmp_path):
    core = engine.retriever.engine
    assert not core.indexed and not core.retriever.chunks
    assert len(core.chunks()) == len(engine.retriever.index.docstore.docs)
    folder = core.save(tmp_path / "core")  # its chunks without vectors; persist() keeps LlamaIndex's storage
    assert json.loads((folder / "manifest.json").read_text())["index"] == "outside"
    assert not (folder / "index.faiss").exists()


def test_a_reranking_engine_puts_the_rerankers_score_in_node_metadata():
    from fakes import ScoringGenerator

    docs = [Document(text=LAUNCH_TEXT, doc_id="log")]
    engine = MemoRAGQueryEngine.from_documents(docs, memory=PromptMemory(ScoringGenerator()),
                                               embed_model=MemoRAGEmbedding(HashEmbedder()), rerank=4, **OPTIONS)
    nodes = engine.retriever.retrieve("When did it start?")
    assert nodes and all(isinstance(n.node.metadata["rerank_score"], float) for n in nodes)
    assert "rerank_score" in nodes[0].node.excluded_llm_metadata_keys  # the generator never reads it
    assert all("rerank_score" not in n.node.metadata for n in fake_engine().retriever.retrieve("When did it start?"))
