"""LlamaIndex filters: ``MetadataFilters`` go to the index's retriever, and the memory's clues come from
the part of the memory that holds the documents they match (scripted models, a real vector index)."""

import asyncio

import pytest
from fakes import ContextRecorder
from li_support import HashEmbedder
from llama_index.core import Document
from llama_index.core.vector_stores.types import (FilterCondition, FilterOperator, MetadataFilter,
                                                  MetadataFilters)
from llama_index.query_engine.memorag import MemoRAGQueryEngine
from llama_index.retrievers.memorag import MemoRAGEmbedding, MemoRAGRetriever
from llama_index.retrievers.memorag.filters import metadata_where

from memorag_integrations import InvalidInputError, PromptMemory

QUERY = "rain wind ships harbour launch crew"




def docs():
    return [Document(text="The launch happened in 1969 from Florida. The crew trained in Houston.", doc_id="launch",
                     metadata={"topic": "space", "year": 1969}),
            Document(text="Rain and wind filled the weather log for the whole of March.", doc_id="weather",
                     metadata={"topic": "weather", "year": 1970}),
            Document(text="The harbour counted ships every night; August was the busiest month.", doc_id="harbour",
                     metadata={"topic": "sea", "year": 1970})]


def retriever(filters=None):
    generator = ContextRecorder()
    r = MemoRAGRetriever.from_documents(docs(), memory=PromptMemory(generator),
                                        embed_model=MemoRAGEmbedding(HashEmbedder()), chunk_tokens=8,
                                        chunk_overlap=0, similarity_top_k=10, filters=filters)
    return r, generator


def found(nodes):
    return {n.node.metadata["doc_id"] for n in nodes}


SEA = MetadataFilters(filters=[MetadataFilter(key="topic", value="sea")])


def test_filters_keep_retrieval_and_the_memory_to_the_matching_documents():
    r, generator = retriever(SEA)
    docs_nodes = r.retrieve(QUERY)
    assert found(docs_nodes) == {"harbour"}
    assert generator.contexts and all("harbour" in c and "1969" not in c for c in generator.contexts)
    assert found(asyncio.run(r.aretrieve(QUERY))) == {"harbour"}
    unfiltered, _ = retriever()
    assert found(unfiltered.retrieve(QUERY)) == {"launch", "weather", "harbour"}


def test_operators_and_conditions():
    later = MetadataFilters(filters=[MetadataFilter(key="year", value=1970, operator=FilterOperator.GTE),
                                     MetadataFilter(key="topic", value="sea", operator=FilterOperator.NE)])
    r, _ = retriever(later)
    assert r.doc_ids() == ["weather"] and found(r.retrieve(QUERY)) == {"weather"}
    either = MetadataFilters(filters=[MetadataFilter(key="topic", value="sea"),
                                      MetadataFilter(key="doc_id", value="launch")], condition=FilterCondition.OR)
    assert metadata_where(either) == {"$or": [{"topic": {"$eq": "sea"}}, {"doc_id": {"$eq": "launch"}}]}
    r, _ = retriever(either)
    assert r.doc_ids() == ["launch", "harbour"]


def test_the_query_engine_answers_from_the_filtered_part():
    r, generator = retriever(SEA)
    engine = MemoRAGQueryEngine(r)
    response = engine.query("When were most ships counted?")
    assert found(response.source_nodes) == {"harbour"}
    generator.contexts.clear()
    engine.with_options(task="qa").query("When were most ships counted?")
    assert generator.contexts and "harbour" in generator.contexts[-1] and "1969" not in generator.contexts[-1]


def test_filters_matching_nothing_answer_so_without_a_model_call():
    r, generator = retriever(MetadataFilters(filters=[MetadataFilter(key="topic", value="music")]))
    generator.calls.clear()
    assert r.retrieve(QUERY) == []
    nothing = r.engine.memory.prompts.nothing_found
    assert str(MemoRAGQueryEngine(r).query("When was the launch?")) == nothing
    assert str(MemoRAGQueryEngine(r, task="qa").query("When was the launch?")) == nothing
    assert generator.calls == []


def test_unsupported_filters_are_typed_errors():
    with pytest.raises(InvalidInputError, match="operator"):
        retriever(MetadataFilters(filters=[MetadataFilter(key="topic", value="s", operator=FilterOperator.TEXT_MATCH)]))
    with pytest.raises(InvalidInputError, match="MetadataFilters"):
        retriever({"topic": "sea"})
    r, _ = retriever()
    with pytest.raises(InvalidInputError, match="given retriever"):
        MemoRAGRetriever(r.engine, r.base_retriever, filters=SEA)
