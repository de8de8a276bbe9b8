"""The LlamaIndex retriever and query engine over a vector database: Qdrant (its local mode, in the
test process). Node ids are UUIDs, which Qdrant requires; inserts and deletes keep its points in step,
and MetadataFilters reach Qdrant and the memory (scripted models)."""

import pytest
from li_support import HashEmbedder, ScriptedGenerator
from llama_index.core import Document, StorageContext
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
from llama_index.query_engine.memorag import MemoRAGQueryEngine
from llama_index.retrievers.memorag import MemoRAGEmbedding, MemoRAGRetriever

from memorag_integrations import PromptMemory

qdrant_client = pytest.importorskip("qdrant_client", reason="needs llama-index-vector-stores-qdrant (the test extra)")
from llama_index.vector_stores.qdrant import QdrantVectorStore  # noqa: E402


def docs():
    return [Document(text="The launch happened in 1969 from Florida. The crew trained in Houston.", doc_id="launch",
                     metadata={"topic": "space"}),
            Document(text="Rain and wind filled the weather log for the whole of March.", doc_id="weather",
                     metadata={"topic": "weather"}),
            Document(text="The harbour counted ships every night; August was the busiest month.", doc_id="harbour",
                     metadata={"topic": "sea"})]


def make(**options):
    client = qdrant_client.QdrantClient(":memory:")
    store = QdrantVectorStore(client=client, collection_name="chunks")
    retriever = MemoRAGRetriever.from_documents(
        docs(), memory=PromptMemory(ScriptedGenerator()), embed_model=MemoRAGEmbedding(HashEmbedder()),
        storage_context=StorageContext.from_defaults(vector_store=store), chunk_tokens=8, chunk_overlap=0,
        similarity_top_k=10, **options)
    return retriever, client


def points_by_doc(client):
    points, _ = client.scroll("chunks", limit=1000, with_payload=True)
    out = {}
    for p in points:
        doc_id = p.payload["doc_id"]
        out[doc_id] = out.get(doc_id, 0) + 1
    return out


def test_qdrant_holds_the_nodes_and_follows_the_corpus():
    r, client = make()
    held = points_by_doc(client)
    assert set(held) == {"launch", "weather", "harbour"} and sum(held.values()) == len(r.engine.chunks())
    assert "harbour" in {n.node.metadata["doc_id"] for n in r.retrieve("ships harbour August")}
    r.insert(Document(text="The library lent books all winter.", doc_id="library"))
    r.delete_ref_doc("weather")
    assert set(points_by_doc(client)) == {"launch", "harbour", "library"}
    response = MemoRAGQueryEngine(r).query("When were the most ships counted?")
    assert response.source_nodes and {n.node.metadata["doc_id"] for n in response.source_nodes} <= {
        "launch", "harbour", "library"}


def test_metadata_filters_reach_qdrant_and_the_memory():
    r, _ = make(filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="sea")]))
    assert {n.node.metadata["doc_id"] for n in r.retrieve("rain wind ships launch")} == {"harbour"}
    assert r.doc_ids() == ["harbour"]
