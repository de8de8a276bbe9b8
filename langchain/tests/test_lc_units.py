"""Retriever logic with fakes: arguments are checked when the object is built, before any reading."""

import pytest
from fakes import HashEmbedder, ScriptedGenerator
from langchain_core.vectorstores import InMemoryVectorStore
from lc_support import fake_retriever

from langchain_memorag import EmbedderEmbeddings, MemoRAGRetriever
from memorag_integrations import InvalidInputError, MemoRAG, PromptMemory
from memorag_integrations.defaults import K
from memorag_integrations.retrieval.retriever import DenseRetriever

TEXT = ("The launch happened in 1969.\n\nThe crew of three trained.\n\n"
        + " ".join(f"Day {i} of the log noted {i % 3 + 1} storms." for i in range(12)))


def fake_engine() -> MemoRAG:
    retriever = DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0)
    return MemoRAG(PromptMemory(ScriptedGenerator()), retriever, progress=False).memorize(TEXT)


def test_k_is_checked_when_the_retriever_is_built():
    engine = fake_engine()
    assert MemoRAGRetriever(engine=engine).k == K == engine.k
    for bad in (0, -1):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            MemoRAGRetriever(engine=engine, k=bad)
    with pytest.raises(ValueError, match="fetch_k must be a positive integer"):
        MemoRAGRetriever(engine=engine, fetch_k=0)
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        MemoRAGRetriever(engine=engine).invoke("When was the launch?", k=0)


def test_a_wrong_vector_store_is_refused_before_anything_is_read():
    memory = PromptMemory(ScriptedGenerator())
    with pytest.raises(InvalidInputError, match="VectorStore class or instance"):
        MemoRAGRetriever.from_texts([TEXT], EmbedderEmbeddings(HashEmbedder()), memory=memory, vectorstore=object())
    with pytest.raises(InvalidInputError, match="not a LangChain VectorStore class"):
        MemoRAGRetriever.from_texts([TEXT], EmbedderEmbeddings(HashEmbedder()), memory=memory, vectorstore=dict)
    assert not memory.is_ready


def test_the_core_index_and_a_vector_store_give_the_same_fused_chunks():
    engine = fake_engine()
    own = MemoRAGRetriever(engine=engine, k=3).invoke("When was the launch?")
    store = MemoRAGRetriever.from_engine(engine, InMemoryVectorStore, EmbedderEmbeddings(HashEmbedder()), k=3)
    other = store.invoke("When was the launch?")
    # The same fusion over the same chunks: equal fused scores (hashed embeddings tie often, so the
    # order among equal scores may differ between FAISS and the in-memory store).
    assert [d.metadata["score"] for d in own] == pytest.approx([d.metadata["score"] for d in other])
    assert (own[0].metadata["start"], own[0].metadata["end"]) == (other[0].metadata["start"], other[0].metadata["end"])
    for doc in own:
        assert TEXT[doc.metadata["start"]:doc.metadata["end"]] == doc.page_content
        found = doc.metadata["matched_queries"]
        assert found and set(doc.metadata["query_scores"]) == set(found)
    assert not engine.indexed or engine.retriever.chunks  # from_engine leaves the engine's own index alone


def test_a_retriever_over_a_vector_store_saves_its_corpus_and_loads_back_into_a_store(tmp_path):
    embeddings = EmbedderEmbeddings(HashEmbedder())
    store = InMemoryVectorStore(embeddings)
    retriever = MemoRAGRetriever.from_texts([TEXT], embeddings, memory=PromptMemory(ScriptedGenerator()),
                                            vectorstore=store)
    question = "When was the launch?"
    before = [d.page_content for d in retriever.invoke(question)]
    held = len(store.store)
    folder = retriever.save(tmp_path / "saved")
    assert (folder / "chunks.jsonl").is_file() and not (folder / "index.faiss").exists()

    def load(**options):
        return MemoRAGRetriever.load(folder, embeddings, memory=PromptMemory(ScriptedGenerator()), **options)

    again = load(vectorstore=store)  # the user's own store, reconnected: nothing is added twice
    assert len(store.store) == held and [d.page_content for d in again.invoke(question)] == before
    fresh = load(vectorstore=InMemoryVectorStore)  # a new store built from the saved chunks
    assert len(fresh.vectorstore.store) == held and [d.page_content for d in fresh.invoke(question)] == before
    own = load()  # the engine's own index, embedded from the saved chunks
    assert own.vectorstore is None and [d.page_content for d in own.invoke(question)] == before


def test_summaries_retrieve_by_key_points():
    docs = fake_retriever().invoke("", task="summarize")
    assert docs and docs[0].metadata["clues"]["spans"]


def test_a_reranking_engine_puts_the_rerankers_score_in_the_metadata():
    from fakes import ScoringGenerator

    retriever = DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0)
    engine = MemoRAG(PromptMemory(ScoringGenerator()), retriever, rerank=4, progress=False).memorize(TEXT)
    docs = MemoRAGRetriever(engine=engine, k=3).invoke("When was the launch?")
    assert len(docs) == 3 and all(isinstance(d.metadata["rerank_score"], float) for d in docs)
    assert [d.metadata["score"] for d in docs] == sorted((d.metadata["score"] for d in docs), reverse=True)
    plain = MemoRAGRetriever(engine=fake_engine(), k=3).invoke("When was the launch?")
    assert all("rerank_score" not in d.metadata for d in plain)
