"""Filters: a query kept to some documents retrieves only their chunks, and its clues come from their
part of the memory (scripted models, real FAISS; the real models are in tests/slow/test_filters_real.py)."""

import asyncio

import numpy as np
import pytest
from fakes import ContextRecorder, HashEmbedder

from memorag_integrations import Clues, Document, DocumentFilter, InvalidInputError, MemoRAG, PromptMemory
from memorag_integrations.memory.gist import GistCache
from memorag_integrations.retrieval.index import FaissIndex
from memorag_integrations.retrieval.retriever import DenseRetriever

DOCS = [Document("The launch happened in 1969 from Florida. The crew of three trained in Houston.", "launch",
                 {"topic": "space", "year": 1969}),
        Document("Rain and wind filled the weather log for the whole of March and April.", "weather",
                 {"topic": "weather", "year": 1970}),
        Document("The harbour counted ships every night; August was the busiest month.", "harbour",
                 {"topic": "sea", "year": 1970})]




def make(**options):
    generator = ContextRecorder()
    memory = PromptMemory(generator, **options)
    engine = MemoRAG(memory, DenseRetriever(HashEmbedder(), chunk_tokens=8, chunk_overlap=0), progress=False)
    return engine.memorize(DOCS), generator


# -- the filter itself ------------------------------------------------------------------------------
def test_filter_selects_by_ids_and_metadata_in_corpus_order():
    assert DocumentFilter.of() is None
    assert [d.doc_id for d in DocumentFilter.of(["harbour", "launch"]).select(DOCS)] == ["launch", "harbour"]
    assert [d.doc_id for d in DocumentFilter.of("weather").select(DOCS)] == ["weather"]
    assert [d.doc_id for d in DocumentFilter.of(where={"year": 1970}).select(DOCS)] == ["weather", "harbour"]
    assert [d.doc_id for d in DocumentFilter.of(where={"topic": ["sea", "space"]}).select(DOCS)] == [
        "launch", "harbour"]
    both = DocumentFilter.of(["launch", "weather"], where={"year": 1970})
    assert [d.doc_id for d in both.select(DOCS)] == ["weather"]
    assert [d.doc_id for d in DocumentFilter.of(where=lambda d: "ships" in d.text).select(DOCS)] == ["harbour"]
    assert DocumentFilter.of(where={"missing_key": 1}).select(DOCS) == []


def test_metadata_operators_and_logic():
    def ids(where):
        return [d.doc_id for d in DocumentFilter.of(where=where).select(DOCS)]

    assert ids({"year": {"$gte": 1970}}) == ["weather", "harbour"]
    assert ids({"year": {"$lt": 1970}}) == ["launch"]
    assert ids({"topic": {"$in": ["sea", "space"]}}) == ["launch", "harbour"]
    assert ids({"topic": {"$nin": ["sea", "space"]}}) == ["weather"]
    assert ids({"topic": {"$ne": "sea"}, "year": 1970}) == ["weather"]
    assert ids({"$or": [{"topic": "sea"}, {"year": 1969}]}) == ["launch", "harbour"]
    assert ids({"$and": [{"year": 1970}, {"$not": {"topic": "sea"}}]}) == ["weather"]
    assert ids({"topic": {"$contains": "ea"}}) == ["weather", "harbour"]
    assert ids({"author": {"$ne": "x"}}) == ["launch", "weather", "harbour"]  # absent counts as not equal
    assert ids({"year": {"$gt": "1969"}}) == []  # a string against numbers matches nothing, raises nothing


@pytest.mark.parametrize("doc_ids, where", [(42, None), ([1, 2], None), (b"launch", None), ({"a": 1}, None),
                                            (None, "topic"), (None, {1: "x"}), (None, ["topic"]),
                                            (None, {"year": {"$between": [1, 2]}}), (None, {"$xor": []}),
                                            (None, {"$or": {"a": 1}}), (None, {"$not": [1]}), (None, {"a": {}})])
def test_bad_filters_are_typed_errors(doc_ids, where):
    with pytest.raises(InvalidInputError):
        DocumentFilter.of(doc_ids, where)


def test_unknown_doc_ids_are_refused_before_any_model_call():
    engine, generator = make()
    generator.calls.clear()
    with pytest.raises(InvalidInputError, match="no memorized document has the doc_id"):
        engine.answer("When was the launch?", doc_ids=["launch", "lunch"])
    assert generator.calls == []


# -- retrieval within documents ---------------------------------------------------------------------
def test_faiss_search_among_ids_scores_as_unfiltered():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = FaissIndex(16)
    index.add(vectors)
    query = vectors[:2] + 0.01
    among = [3, 7, 11, 40, 41]
    scores, ids = index.search(query, 3, among=among)
    assert ids.shape == (2, 3) and set(ids.ravel()) <= set(among)
    full_scores, full_ids = index.search(query, 50)
    for row in range(2):
        ranked = [i for i in full_ids[row] if i in among][:3]
        assert list(ids[row]) == ranked
        assert np.allclose(scores[row], [full_scores[row][list(full_ids[row]).index(i)] for i in ranked])
    assert index.search(query, 10, among=[5])[1].tolist() == [[5], [5]]
    assert index.search(query, 10, among=[])[1].shape == (2, 0)


def test_retrieve_keeps_to_the_filtered_documents():
    engine, _ = make()
    query = "rain wind weather log ships harbour launch"
    assert {e.doc_id for e in engine.retrieve(query, k=10, clues=Clues())} == {"launch", "weather", "harbour"}
    assert {e.doc_id for e in engine.retrieve(query, k=10, clues=Clues(), doc_ids="harbour")} == {"harbour"}
    found = engine.retrieve(query, k=10, clues=Clues(), where={"year": 1970})
    assert {e.doc_id for e in found} == {"weather", "harbour"}
    # chunk ids still point into the whole index
    assert all(engine.retriever.chunks[e.chunk_id].text == e.text for e in found)


# -- the memory's part ----------------------------------------------------------------------------------
def test_clues_come_from_the_filtered_documents_part_of_the_memory():
    engine, generator = make()
    generator.contexts.clear()
    answer = engine.answer("When did the ships come?", doc_ids=["harbour"])
    memory_contexts = [c for c in generator.contexts if c]
    assert memory_contexts and all("harbour counted ships" in c for c in memory_contexts)
    assert not any("1969" in c or "Rain" in c for c in memory_contexts)
    assert {e.doc_id for e in answer.evidence} == {"harbour"}
    assert "harbour counted ships" in engine.memory.context and "1969" in engine.memory.context  # unchanged


def test_a_part_is_read_once_kept_and_forgotten_when_the_corpus_changes():
    engine, _ = make()
    part = engine.memory_for(engine.select("weather"))
    assert part is not engine.memory and part.context.strip() == DOCS[1].text
    assert engine.memory_for(engine.select("weather")) is part
    assert engine.memory_for(engine.select(["launch", "weather", "harbour"])) is engine.memory  # all: no part
    engine.add(Document("A new chapter on tides.", "tides"))
    assert engine.memory_for(engine.select("weather")) is not part


def test_a_gisted_corpus_gives_a_part_of_its_own_gists(tmp_path):
    long_docs = [Document(" ".join([d.text] * 12), d.doc_id, d.metadata) for d in DOCS]
    generator = ContextRecorder()
    memory = PromptMemory(generator, max_memory_tokens=120, gist_chunk_tokens=60, gist_tokens=16)
    memory.compressor.cache = GistCache(tmp_path)
    engine = MemoRAG(memory, DenseRetriever(HashEmbedder(), chunk_tokens=8, chunk_overlap=0),
                     progress=False).memorize(long_docs)
    assert engine.memory.gists, "the corpus should not fit the memory budget"
    part = engine.memory_for(engine.select(["launch", "harbour"]))
    assert part.gists and {g.doc_id for g in part.gists} == {"launch", "harbour"}
    assert part.gists == [g for g in engine.memory.gists if g.doc_id != "weather"]
    assert "### launch" in part.context and "### weather" not in part.context
    one = engine.memory_for(engine.select("weather"))
    assert one.gists and {g.doc_id for g in one.gists} == {"weather"}


def test_a_filter_that_matches_nothing_answers_so_without_a_model_call():
    engine, generator = make()
    generator.calls.clear()
    answer = engine.answer("When was the launch?", where={"topic": "music"})
    assert answer.text == engine.memory.prompts.nothing_found and answer.evidence == []
    assert engine.clues("When was the launch?", where={"topic": "music"}) is None
    assert engine.answer("When was the launch?", "qa", where={"topic": "music"}).text == answer.text
    assert generator.calls == []


def test_memory_only_answers_and_summaries_use_the_part():
    engine, generator = make()
    generator.contexts.clear()
    engine.answer("When was the launch?", "qa", doc_ids="launch")
    assert generator.contexts[-1] and "1969" in generator.contexts[-1] and "Rain" not in generator.contexts[-1]
    generator.contexts.clear()
    summary = engine.summarize(where={"topic": "weather"})
    assert {e.doc_id for e in summary.evidence} == {"weather"}
    assert all("Rain" in c and "1969" not in c for c in generator.contexts if c)


def test_async_and_streaming_calls_take_the_same_filters():
    engine, _ = make()
    answer = asyncio.run(engine.aanswer("When did the ships come?", doc_ids="harbour"))
    assert {e.doc_id for e in answer.evidence} == {"harbour"}
    clues = asyncio.run(engine.aclues("When did the ships come?", doc_ids="harbour"))
    assert clues == engine.clues("When did the ships come?", doc_ids="harbour")
    assert "".join(engine.stream("When did the ships come?", doc_ids="harbour")).strip()


def test_a_given_searcher_is_not_silently_left_unfiltered():
    engine, _ = make()
    with pytest.raises(InvalidInputError, match="filter it in its own terms"):
        engine.rank("ships", Clues(), searcher=engine.retriever, documents=engine.select("harbour"))
