"""The query-time vector cache: each text is embedded once while it is kept, in the caller's order."""

import numpy as np
from fakes import HashEmbedder, ScoringGenerator

from memorag_integrations import MemoRAG, PromptMemory
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.retrieval.vector_cache import VectorCache


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


def test_a_query_embeds_the_sentences_its_reranker_read_once_for_its_quotes():
    embedder = CountingEmbedder()
    text = ("The harbour froze in the winter of 1911. Ships waited outside for weeks. "
            "The keeper logged every ship that passed. His daughter rebuilt the lost logbook. "
            "The town paid for a new lamp. Fog hid the reef each spring. The lamp was lit by gas.")
    # Chunks longer than the reranker's sentences: it picks sentences by their vectors.
    engine = MemoRAG(PromptMemory(ScoringGenerator()), DenseRetriever(embedder, chunk_tokens=40, chunk_overlap=0),
                     progress=False, rerank=4, k=2, answer_mode="extractive", write_clues=False)
    engine.memorize(text)
    embedder.embedded.clear()
    answer = engine.answer("When did the harbour freeze?")
    assert answer.text and answer.evidence
    sentences = [t for t in embedder.embedded if t != "When did the harbour freeze?"]
    assert sentences and len(sentences) == len(set(sentences))  # no sentence embedded twice
