"""The LangChain retriever over a vector database: Qdrant (its local mode, in the test process).
Chunk ids are UUIDs, which Qdrant requires; adds, deletes and updates keep its points in step, and
its own filter objects pass through (scripted models)."""

import pytest
from fakes import HashEmbedder, ScriptedGenerator
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_memorag import EmbedderEmbeddings, MemoRAGRetriever
from memorag_integrations import InvalidInputError, PromptMemory

qdrant_models = pytest.importorskip("qdrant_client.models", reason="needs langchain-qdrant (the test extra)")
from langchain_qdrant import QdrantVectorStore  # noqa: E402
from qdrant_client import QdrantClient  # noqa: E402

TEXTS = ["The launch happened in 1969 from Florida. The crew trained in Houston.",
         "Rain and wind filled the weather log for the whole of March.",
         "The harbour counted ships every night; August was the busiest month."]
IDS = ["launch", "weather", "harbour"]
META = [{"topic": "space"}, {"topic": "weather"}, {"topic": "sea"}]


def qdrant_store(embeddings):
    client = QdrantClient(":memory:")
    client.create_collection("chunks", vectors_config=qdrant_models.VectorParams(
        size=128, distance=qdrant_models.Distance.COSINE))
    return QdrantVectorStore(client=client, collection_name="chunks", embedding=embeddings)


def points_by_doc(store):
    points, _ = store.client.scroll("chunks", limit=1000, with_payload=True)
    out = {}
    for p in points:
        doc_id = p.payload["metadata"]["doc_id"]
        out[doc_id] = out.get(doc_id, 0) + 1
    return out


def make():
    embeddings = EmbedderEmbeddings(HashEmbedder())
    return MemoRAGRetriever.from_texts(TEXTS, embeddings, metadatas=META, ids=IDS,
                                       memory=PromptMemory(ScriptedGenerator()), vectorstore=qdrant_store(embeddings),
                                       chunk_tokens=8, chunk_overlap=0, k=10)


def test_qdrant_holds_the_chunks_and_follows_the_corpus():
    r = make()
    held = points_by_doc(r.vectorstore)
    assert set(held) == set(IDS) and sum(held.values()) == len(r.engine.chunks())
    found = r.invoke("ships harbour August")
    assert "harbour" in {d.metadata["doc_id"] for d in found}
    r.add_documents(Document("The library lent books all winter.", metadata={"doc_id": "library"}))
    r.delete(["weather"])
    r.update_document(Document("The launch moved to 1970.", metadata={"doc_id": "launch"}))
    held = points_by_doc(r.vectorstore)
    assert set(held) == {"launch", "harbour", "library"}
    texts = [p.payload["page_content"] for p in r.vectorstore.client.scroll("chunks", limit=1000)[0]
             if p.payload["metadata"]["doc_id"] == "launch"]
    assert texts and "1970" in " ".join(texts) and "1969" not in " ".join(texts)


def test_qdrants_own_filter_goes_to_the_store():
    r = make()
    sea = qdrant_models.Filter(must=[qdrant_models.FieldCondition(key="metadata.topic",
                                                                  match=qdrant_models.MatchValue(value="sea"))])
    assert {d.metadata["doc_id"] for d in r.invoke("rain wind ships launch", filter=sea)} == {"harbour"}
    own = MemoRAGRetriever(engine=r.engine, k=10)  # the engine's own index reads only dicts and functions
    with pytest.raises(InvalidInputError, match="dict or a function"):
        own.invoke("ships", filter=sea)


def test_a_store_filled_with_the_older_ids_is_reconnected_and_changed_without_duplicates():
    r = make()
    legacy = InMemoryVectorStore(r.vectorstore.embeddings)
    chunks = [Document(c.text, metadata={**META[IDS.index(c.doc_id)], "doc_id": c.doc_id, "start": c.start,
                                         "end": c.end}) for c in r.engine.chunks()]
    legacy.add_documents(chunks, ids=[f"{d.metadata['doc_id']}:{d.metadata['start']}-{d.metadata['end']}"
                                      for d in chunks])
    again = MemoRAGRetriever.from_engine(r.engine, legacy)
    assert len(legacy.store) == len(chunks)  # nothing added twice
    again.delete(["weather"])
    assert {d["metadata"]["doc_id"] for d in legacy.store.values()} == {"launch", "harbour"}
