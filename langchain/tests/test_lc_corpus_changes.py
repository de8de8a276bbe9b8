"""A LangChain corpus that changes: add_documents, delete(ids) and update_document keep the user's
vector store in step with the memory (scripted models, a real in-memory store)."""

from fakes import HashEmbedder, ScriptedGenerator
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_memorag import EmbedderEmbeddings, MemoRAGRetriever
from memorag_integrations import PromptMemory

TEXTS = ["The launch happened in 1969 from Florida.", "Rain and wind filled the weather log for March."]


def retriever(vectorstore=InMemoryVectorStore):
    return MemoRAGRetriever.from_texts(TEXTS, EmbedderEmbeddings(HashEmbedder()), ids=["launch", "weather"],
                                       memory=PromptMemory(ScriptedGenerator()), vectorstore=vectorstore,
                                       chunk_tokens=8, chunk_overlap=0)


def store_doc_ids(r):
    return sorted({d["metadata"]["doc_id"] for d in r.vectorstore.store.values()})


def test_the_vector_store_follows_adds_deletes_and_updates():
    r = retriever()
    harbour = Document("The harbour counted ships every night in August.", metadata={"doc_id": "harbour"})
    ids = r.add_documents([harbour])
    assert ids and len(ids) == len(set(ids)) and all(len(i) == 36 for i in ids)  # UUIDs
    assert store_doc_ids(r) == ["harbour", "launch", "weather"] and "August" in r.engine.memory.context
    assert "harbour" in {d.metadata["doc_id"] for d in r.invoke("ships in August", k=5)}

    r.delete(["weather"])
    assert store_doc_ids(r) == ["harbour", "launch"] and "Rain" not in r.engine.memory.context
    assert "weather" not in {d.metadata["doc_id"] for d in r.invoke("rain and wind", k=10)}

    r.update_document(Document("The launch was moved to 1970.", metadata={"doc_id": "launch"}))
    texts = [d["text"] for d in r.vectorstore.store.values() if d["metadata"]["doc_id"] == "launch"]
    assert texts and all("1969" not in t for t in texts) and "1970" in " ".join(texts)
    assert [d.doc_id for d in r.engine.documents] == ["launch", "harbour"]


def test_the_engines_own_index_follows_too():
    r = retriever(vectorstore=None)
    r.add_documents("Ships were counted in August at the harbour.")
    r.delete("weather")
    assert {c.doc_id for c in r.engine.retriever.chunks} == {"launch", "doc-2"}
    assert "weather" not in {d.metadata["doc_id"] for d in r.invoke("rain and wind", k=10)}
