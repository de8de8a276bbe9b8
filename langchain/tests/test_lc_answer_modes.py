"""The chain follows the engine's answer mode: quotes of the context at their exact spans for the
embedded default model (or when asked), a written answer for any other chat model."""

import asyncio

import pytest
from fakes import ScriptedGenerator
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import FakeListChatModel

from langchain_memorag import GeneratorChatModel, MemoRAGRetriever, create_memorag_chain
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.models import DEFAULT_LM

TEXT = ("The harbour office kept the lighthouse logs for a century. In 1911 a storm flooded the lower rooms. "
        "That year's logbook was lost in the water.\n\nThe keeper's daughter rebuilt the record from his letters. "
        "Ships passing the northern reef were counted every night.")
QUESTION = "What happened to the logbook of 1911?"


class EmbeddedStandIn(ScriptedGenerator):
    """Named as the embedded default model is."""

    identity = DEFAULT_LM


def retriever(**options):
    memory = FakeListChatModel(responses=["- the logbook was lost", "* What was lost in 1911?"])
    return MemoRAGRetriever.from_texts([TEXT], DeterministicFakeEmbedding(size=16), ids=["log"], llm=memory, k=2,
                                       chunk_tokens=24, chunk_overlap=4, rerank=0, **options)


def spans_hold(out):
    for quote in out["quotes"]:
        start, end = quote["char_span"]
        assert TEXT[start:end] == quote["text"] and quote["doc_id"] == "log"
        doc = out["context"][quote["evidence"] - 1]
        assert doc.metadata["doc_id"] == "log" and doc.metadata["start"] <= (start + end) // 2 < doc.metadata["end"]


def test_a_named_chat_model_writes_the_answer():
    out = create_memorag_chain(retriever(), FakeListChatModel(responses=["It was lost [1]."])).invoke(QUESTION)
    assert out["answer"] == "It was lost [1]." and out["quotes"] == [] and out["context"]


def test_the_embedded_model_quotes_the_context():
    chain = create_memorag_chain(retriever(), GeneratorChatModel(generator=EmbeddedStandIn()))
    out = chain.invoke(QUESTION)
    assert out["quotes"] and set(out) == {"answer", "context", "clues", "quotes"}
    spans_hold(out)
    assert out["answer"].splitlines() == [f"{' '.join(q['text'].split())} [{q['evidence']}]" for q in out["quotes"]]
    pieces = [c["answer"] for c in chain.stream(QUESTION) if "answer" in c]
    assert len(pieces) >= 2 and "".join(pieces) == out["answer"]

    async def streamed():
        return "".join([c["answer"] async for c in chain.astream(QUESTION) if "answer" in c])

    assert asyncio.run(streamed()) == out["answer"]


def test_the_mode_can_be_asked_for_and_is_checked():
    named = FakeListChatModel(responses=["written"])
    out = create_memorag_chain(retriever(), named, answer_mode="extractive").invoke(QUESTION)
    assert out["quotes"] and named.i == 0  # the chat model was never asked
    spans_hold(out)
    engine_default = create_memorag_chain(retriever(answer_mode="extractive"), named).invoke(QUESTION)
    assert engine_default["quotes"] == out["quotes"]
    embedded = GeneratorChatModel(generator=EmbeddedStandIn())
    assert create_memorag_chain(retriever(), embedded, answer_mode="generate").invoke(QUESTION)["quotes"] == []
    with pytest.raises(InvalidInputError, match="answer_mode must be one of"):
        create_memorag_chain(retriever(), named, answer_mode="quoted")


def test_an_extractive_summary_quotes_central_sentences_in_order():
    out = create_memorag_chain(retriever(), GeneratorChatModel(generator=EmbeddedStandIn()),
                               task="summarize").invoke("")
    assert out["quotes"]
    spans_hold(out)
    starts = [q["char_span"][0] for q in out["quotes"]]
    assert starts == sorted(starts)
