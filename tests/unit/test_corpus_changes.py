"""Deleting and updating documents: the index changes in place (nothing else is embedded again), the
memory is rebuilt from cached gists, and a saved corpus loads the same (scripted models, real FAISS)."""

import numpy as np
import pytest
from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import Clues, Document, InvalidInputError, MemoRAG, PromptMemory
from memorag_integrations.retrieval.retriever import DenseRetriever

DOCS = [Document("The launch happened in 1969 from Florida. The crew of three trained in Houston.", "launch"),
        Document("Rain and wind filled the weather log for the whole of March and April.", "weather"),
        Document("The harbour counted ships every night; August was the busiest month.", "harbour")]


class CountingEmbedder(HashEmbedder):
    def __init__(self):
        super().__init__()
        self.embedded: list[str] = []

    def encode(self, texts, *, progress=False):
        self.embedded.extend(texts)
        return super().encode(texts)


def make():
    embedder = CountingEmbedder()
    engine = MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(embedder, chunk_tokens=8, chunk_overlap=0),
                     progress=False).memorize(DOCS)
    return engine, embedder


def doc_ids(evidence):
    return {e.doc_id for e in evidence}


def test_delete_drops_the_chunks_without_embedding_and_rebuilds_the_memory():
    engine, embedder = make()
    kept_vectors = {c.text: v for c, v in zip(engine.retriever.chunks, engine.retriever.index.vectors())
                    if c.doc_id != "weather"}
    embedder.embedded.clear()
    engine.delete("weather")
    assert [d.doc_id for d in engine.documents] == ["launch", "harbour"]
    assert "Rain" not in engine.memory.context and "1969" in engine.memory.context
    assert all(c.doc_id != "weather" for c in engine.retriever.chunks)
    assert [c.chunk_id for c in engine.retriever.chunks] == list(range(len(engine.retriever.chunks)))
    for chunk, vector in zip(engine.retriever.chunks, engine.retriever.index.vectors()):
        assert np.array_equal(vector, kept_vectors[chunk.text])  # the same vectors, moved
    assert embedder.embedded == []  # nothing was embedded again
    assert "weather" not in doc_ids(engine.retrieve("rain wind weather log", k=10, clues=Clues()))


def test_update_embeds_only_the_changed_document():
    engine, embedder = make()
    embedder.embedded.clear()
    engine.update(Document("The harbour closed in 1950 and the ships went to the new port.", "harbour"))
    assert embedder.embedded and all("harbour" in t or "ships" in t or "1950" in t or "port" in t
                                     for t in embedder.embedded)
    assert [d.doc_id for d in engine.documents] == ["launch", "weather", "harbour"]
    assert "1950" in engine.memory.context and "August" not in engine.memory.context
    found = engine.retrieve("When did the harbour close?", k=10, clues=Clues())
    assert any("1950" in e.text for e in found) and not any("August" in e.text for e in found)


def test_a_changed_corpus_saves_and_loads_the_same(tmp_path):
    engine, _ = make()
    engine.delete(["weather"]).update(Document("The launch was moved to 1970.", "launch"))
    folder = engine.save(tmp_path / "c")
    loaded = MemoRAG.load(folder, PromptMemory(ScriptedGenerator()),
                          DenseRetriever(HashEmbedder(), chunk_tokens=8, chunk_overlap=0), progress=False)
    assert loaded.documents == engine.documents and loaded.retriever.chunks == engine.retriever.chunks
    query = "When was the launch?"
    assert [e.char_span for e in loaded.retrieve(query, clues=Clues())] == \
        [e.char_span for e in engine.retrieve(query, clues=Clues())]


def test_bad_changes_are_refused_and_change_nothing():
    engine, _ = make()
    before = (list(engine.documents), list(engine.retriever.chunks), engine.memory.context)
    with pytest.raises(InvalidInputError, match=r"no memorized document has the doc_id\(s\) \['nope'\]"):
        engine.delete("nope")
    with pytest.raises(InvalidInputError, match="nothing to remember"):
        engine.delete(["launch", "weather", "harbour"])
    with pytest.raises(InvalidInputError, match="takes a Document with the doc_id"):
        engine.update("just text")
    with pytest.raises(InvalidInputError, match="no memorized document"):
        engine.update(Document("text", "unknown"))
    with pytest.raises(InvalidInputError, match="is empty"):
        engine.update(Document("  ", "launch"))
    assert (list(engine.documents), list(engine.retriever.chunks), engine.memory.context) == before
