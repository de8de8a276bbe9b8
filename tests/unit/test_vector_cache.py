"""The query-time vector cache: each text is embedded once while it is kept, in the caller's order."""

import numpy as np
from fakes import HashEmbedder, ScoringGenerator

from memorag_integrations import MemoRAG, PromptMemory
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.retrieval.vector_cache import SENTENCES_FILE, VectorCache, read_kept


class CountingEmbedder(HashEmbedder):
    def __init__(self):
        super().__init__()
        self.embedded = []

    def encode(self, texts, *, progress=False):
        self.embedded.extend(texts)
        return super().encode(texts)


def test_each_text_is_embedded_once_and_vectors_come_back_in_order():
    embedder = CountingEmbedder()
    cache = VectorCache(embedder.encode)
    first = cache(["rain fell", "the sun", "rain fell"])
    assert embedder.embedded == ["rain fell", "the sun"]  # a repeat within one call is embedded once
    assert np.allclose(first, embedder.encode(["rain fell", "the sun", "rain fell"]))
    embedder.embedded.clear()
    again = cache(["the sun", "a storm"])
    assert embedder.embedded == ["a storm"] and np.allclose(again[0], first[1])
    assert cache([]).shape[0] == 0


def test_the_oldest_texts_are_forgotten_past_its_size():
    embedder = CountingEmbedder()
    cache = VectorCache(embedder.encode, size=2)
    cache(["a", "b"])
    cache(["a"])  # "a" is now the most recent: "b" goes first
    cache(["c"])
    embedder.embedded.clear()
    cache(["a", "b"])
    assert embedder.embedded == ["b"]


TEXT = ("The harbour froze in the winter of 1911. Ships waited outside for weeks. "
        "The keeper logged every ship that passed. His daughter rebuilt the lost logbook. "
        "The town paid for a new lamp. Fog hid the reef each spring. The lamp was lit by gas.")
QUESTION = "When did the harbour freeze?"


def quoting_engine(embedder, **options):
    # Chunks longer than the reranker's sentences: it picks sentences by their vectors.
    return MemoRAG(PromptMemory(ScoringGenerator()), DenseRetriever(embedder, chunk_tokens=40, chunk_overlap=0),
                   progress=False, k=2, answer_mode="extractive", write_clues=False, **{"rerank": 4, **options})


def test_a_query_embeds_its_sentences_once_for_the_reranker_and_its_quotes():
    embedder = CountingEmbedder()
    engine = quoting_engine(embedder)
    engine.memorize(TEXT)
    engine._sentence_vectors.forget_kept()  # as a folder saved before sentences were kept
    embedder.embedded.clear()
    answer = engine.answer(QUESTION)
    assert answer.text and answer.evidence
    sentences = [t for t in embedder.embedded if t != QUESTION]
    assert sentences and len(sentences) == len(set(sentences))  # no sentence embedded twice


def test_the_corpus_sentences_are_embedded_when_it_is_indexed_and_saved_with_it(tmp_path):
    embedder = CountingEmbedder()
    engine = quoting_engine(embedder)
    engine.memorize(TEXT)
    embedder.embedded.clear()
    first = engine.answer(QUESTION)
    assert set(embedder.embedded) == {QUESTION}  # every sentence of every chunk was embedded at memorize
    engine.save(tmp_path / "corpus")
    assert (tmp_path / "corpus" / SENTENCES_FILE).is_file()
    loaded = MemoRAG.load(tmp_path / "corpus", memory=PromptMemory(ScoringGenerator()),
                          retriever=DenseRetriever(embedder, chunk_tokens=40, chunk_overlap=0), progress=False, k=2,
                          answer_mode="extractive", write_clues=False, rerank=4)
    embedder.embedded.clear()
    assert loaded.answer(QUESTION).text == first.text and set(embedder.embedded) == {QUESTION}


def test_documents_added_later_have_their_sentences_kept_and_deleted_ones_leave_the_folder(tmp_path):
    from memorag_integrations import Document

    embedder = CountingEmbedder()
    engine = quoting_engine(embedder)
    engine.memorize([Document(TEXT, doc_id="a")])
    embedder.embedded.clear()
    engine.add([Document("The ferry ran twice a day. It stopped in the storm of 1920.", doc_id="b")])
    assert "It stopped in the storm of 1920." in embedder.embedded
    before = len(engine._sentence_vectors.kept(engine._corpus_sentences())[0])
    engine.delete(["b"])
    engine.save(tmp_path / "corpus")
    keys, _ = read_kept(tmp_path / "corpus" / SENTENCES_FILE, embedder.dim)
    assert 0 < len(keys) < before  # only the sentences of the chunks that stay


def test_an_engine_that_reads_no_sentences_embeds_none_ahead(tmp_path):
    embedder = CountingEmbedder()
    engine = quoting_engine(embedder, rerank=0)
    engine.memorize(TEXT)
    assert len(engine._sentence_vectors.kept(engine._corpus_sentences())[0]) == 0
    engine.save(tmp_path / "corpus")
    assert not (tmp_path / "corpus" / SENTENCES_FILE).exists()


def test_saved_sentence_vectors_of_another_shape_are_refused(tmp_path):
    import pytest

    from memorag_integrations.retrieval.vector_cache import write_kept

    path = tmp_path / SENTENCES_FILE
    write_kept(path, np.arange(3, dtype=np.int64), np.zeros((3, 8), dtype=np.float32))
    keys, vectors = read_kept(path, 8)
    assert keys.tolist() == [0, 1, 2] and vectors.shape == (3, 8)
    with pytest.raises(ValueError, match="dimension 16"):
        read_kept(path, 16)  # another embedder's vectors
    write_kept(path, np.arange(2, dtype=np.int64), np.zeros((3, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="one per key|expected"):
        read_kept(path, 8)


def test_chunks_kept_in_an_outside_store_have_their_sentences_kept_and_saved_too(tmp_path):
    embedder = CountingEmbedder()
    engine = quoting_engine(embedder)
    engine.memorize(TEXT, index=False)  # as an adapter does: the chunks go to the framework's store
    kept = len(engine._sentence_vectors.kept(engine._corpus_sentences())[0])
    assert kept > 3 and not engine.retriever.chunks
    engine.save(tmp_path / "corpus")
    loaded = MemoRAG.load(tmp_path / "corpus", memory=PromptMemory(ScoringGenerator()),
                          retriever=DenseRetriever(embedder, chunk_tokens=40, chunk_overlap=0), index=False,
                          progress=False, rerank=4)
    assert len(loaded._sentence_vectors.kept(loaded._corpus_sentences())[0]) == kept
