"""The query engine follows the core's answer mode: quotes of the evidence at their exact spans for
the embedded default model (or when asked), a written answer for any other LLM."""

import asyncio

import pytest
from li_support import LAUNCH_TEXT, HashEmbedder, ScriptedGenerator
from llama_index.core import Document
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.llms import MockLLM
from llama_index.llms.memorag import GeneratorLLM
from llama_index.query_engine.memorag import MemoRAGQueryEngine
from llama_index.retrievers.memorag import MemoRAGEmbedding

from memorag_integrations import InvalidInputError, PromptMemory
from memorag_integrations.extractive import CENTRAL_LABEL
from memorag_integrations.models import DEFAULT_LM

OPTIONS = {"k": 3, "chunk_tokens": 20, "chunk_overlap": 2, "per_query_top_k": 2}
QUESTION = "When did the launch happen?"


class EmbeddedStandIn(ScriptedGenerator):
    """Named as the embedded default model is."""

    identity = DEFAULT_LM


def engine(generator=None, **kwargs) -> MemoRAGQueryEngine:
    docs = [Document(text=LAUNCH_TEXT, doc_id="log")]
    return MemoRAGQueryEngine.from_documents(docs, memory=PromptMemory(generator or ScriptedGenerator()),
                                             embed_model=MemoRAGEmbedding(HashEmbedder()), **OPTIONS, **kwargs)


def quotes_hold(response):
    quotes = response.metadata["quotes"]
    assert quotes and response.metadata["answer_mode"] == "extractive"
    for quote in quotes:
        start, end = quote["char_span"]
        assert LAUNCH_TEXT[start:end] == quote["text"] and quote["doc_id"] == "log"
        meta = response.source_nodes[quote["evidence"] - 1].node.metadata
        assert meta["doc_id"] == "log" and meta["start"] <= (start + end) // 2 < meta["end"]
    assert str(response).splitlines() == [f"{' '.join(q['text'].split())} [{q['evidence']}]" for q in quotes]


def test_the_memorys_own_embedded_model_quotes_the_evidence():
    response = engine(EmbeddedStandIn()).query(QUESTION)
    quotes_hold(response)
    assert response.metadata["quotes"][0]["text"] == "The launch happened in 1969 after years of work."
    assert set(response.metadata["timings"]) == {"expand", "retrieve", "extract", "total"}


def test_a_named_llm_writes_the_answer():
    response = engine(EmbeddedStandIn(), llm=MockLLM(max_tokens=4)).query(QUESTION)
    assert response.metadata["answer_mode"] == "generate" and response.metadata["quotes"] == []
    assert "generate" in response.metadata["timings"]
    scripted = engine().query(QUESTION)
    assert str(scripted) == "ANSWER(1)" and scripted.metadata["answer_mode"] == "generate"


def test_the_mode_can_be_asked_for_streamed_and_is_checked():
    asked = engine(llm=MockLLM(max_tokens=4), answer_mode="extractive").query(QUESTION)  # the engine's mode
    quotes_hold(asked)
    embedded = engine(EmbeddedStandIn())
    assert str(embedded.with_options(answer_mode="generate").query(QUESTION)) == "ANSWER(1)"
    whole = str(embedded.query(QUESTION))
    stream = embedded.with_options(streaming=True).query(QUESTION)
    assert isinstance(stream, StreamingResponse) and "".join(stream.response_gen) == whole
    assert "extract" in stream.metadata["timings"]

    async def streamed():
        response = await embedded.with_options(streaming=True).aquery(QUESTION)
        assert isinstance(response, AsyncStreamingResponse)
        return "".join([p async for p in response.async_response_gen()]), await embedded.aquery(QUESTION)

    text, later = asyncio.run(streamed())
    assert text == whole and str(later) == whole
    with pytest.raises(InvalidInputError, match="answer_mode must be one of"):
        embedded.with_options(answer_mode="quotes")
    with pytest.raises(InvalidInputError, match="task 'qa' retrieves none"):
        embedded.with_options(task="qa", answer_mode="extractive")
    assert embedded.with_options(task="qa").query(QUESTION).metadata["answer_mode"] == "generate"


def test_an_extractive_summary_quotes_central_sentences_in_order():
    response = engine(EmbeddedStandIn()).with_options(task="summarize").query("")
    quotes_hold(response)
    starts = [q["char_span"][0] for q in response.metadata["quotes"]]
    assert starts == sorted(starts)
    added = [n for n in response.source_nodes if n.node.metadata["matched_queries"] == [CENTRAL_LABEL]]
    assert all(LAUNCH_TEXT[n.node.metadata["start"]:n.node.metadata["end"]] == n.node.get_content() for n in added)


def test_generator_llm_over_the_embedded_model_counts_as_it():
    named = engine(EmbeddedStandIn(), llm=GeneratorLLM(EmbeddedStandIn()))
    assert named.query(QUESTION).metadata["answer_mode"] == "extractive"
