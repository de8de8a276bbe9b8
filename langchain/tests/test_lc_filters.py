"""LangChain filters: ``invoke(query, filter=...)`` (or ``search_kwargs``) goes to the vector store as it
is, keeps the engine's own index to the matching documents, and the memory's clues come from those
documents' part of the memory (scripted models, real FAISS and in-memory stores)."""

import asyncio

import pytest
from fakes import ContextRecorder, HashEmbedder
from langchain_community.vectorstores import FAISS
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_memorag import EmbedderEmbeddings, MemoRAGRetriever, create_memorag_chain
from memorag_integrations import InvalidInputError, PromptMemory

TEXTS = ["The launch happened in 1969 from Florida. The crew trained in Houston.",
         "Rain and wind filled the weather log for the whole of March.",
         "The harbour counted ships every night; August was the busiest month."]
META = [{"topic": "space"}, {"topic": "weather"}, {"topic": "sea"}]
IDS = ["launch", "weather", "harbour"]
QUERY = "rain wind ships harbour launch crew"




def retriever(vectorstore):
    generator = ContextRecorder()
    r = MemoRAGRetriever.from_texts(TEXTS, EmbedderEmbeddings(HashEmbedder()), metadatas=META, ids=IDS,
                                    memory=PromptMemory(generator), vectorstore=vectorstore, chunk_tokens=8,
                                    chunk_overlap=0, k=10)
    return r, generator


def found(docs):
    return {d.metadata["doc_id"] for d in docs}


@pytest.mark.parametrize("vectorstore, flt", [
    (FAISS, {"topic": "sea"}),                                     # FAISS takes a dict
    (InMemoryVectorStore, lambda d: d.metadata["topic"] == "sea"),  # the in-memory store a function
    (None, {"topic": {"$in": ["sea"]}}),                           # the engine's own index
])
def test_a_filter_keeps_retrieval_and_the_memory_to_the_documents_it_matches(vectorstore, flt):
    r, generator = retriever(vectorstore)
    assert found(r.invoke(QUERY)) == set(IDS)
    generator.contexts.clear()
    docs = r.invoke(QUERY, filter=flt)
    assert found(docs) == {"harbour"}
    assert generator.contexts and all("harbour" in c and "1969" not in c and "Rain" not in c
                                      for c in generator.contexts)
    assert found(asyncio.run(r.ainvoke(QUERY, filter=flt))) == {"harbour"}


def test_search_kwargs_filter_applies_to_every_query_and_a_call_overrides_it():
    built, _ = retriever(FAISS)
    r = MemoRAGRetriever(engine=built.engine, vectorstore=built.vectorstore, k=10,
                         search_kwargs={"filter": {"doc_id": "launch"}})
    assert found(r.invoke(QUERY)) == {"launch"}
    assert found(r.invoke(QUERY, filter={"doc_id": ["weather", "harbour"]})) == {"weather", "harbour"}


def test_a_filter_matching_nothing_returns_nothing_and_asks_no_model():
    r, generator = retriever(None)
    generator.calls.clear()
    assert r.invoke(QUERY, filter={"topic": "music"}) == []
    assert generator.calls == []
    chain = create_memorag_chain(r, FakeListChatModel(responses=["should not be asked"]))
    out = chain.invoke({"question": "When was the launch?", "filter": {"topic": "music"}})
    assert out["context"] == [] and out["answer"] == r.engine.memory.prompts.nothing_found


def test_the_chain_passes_its_filter_to_the_retriever():
    r, _ = retriever(FAISS)
    chain = create_memorag_chain(r, FakeListChatModel(responses=["In August."] * 2))
    out = chain.invoke({"question": "When were most ships counted?", "filter": {"topic": "sea"}})
    assert out["answer"] == "In August." and found(out["context"]) == {"harbour"}
    assert found(chain.invoke("When were most ships counted?")["context"]) != {"harbour"}


@pytest.mark.parametrize("flt", [42, {"topic": {"$regex": "s.*"}}, lambda d: d["topic"] == "sea"])
def test_bad_filters_are_typed_errors_before_any_model_call(flt):
    r, generator = retriever(None)
    generator.calls.clear()
    with pytest.raises(InvalidInputError):
        r.invoke(QUERY, filter=flt)
    assert generator.calls == []
