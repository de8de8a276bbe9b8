"""A LlamaIndex corpus that changes: insert, delete_ref_doc and update_ref_doc keep the index in step
with the memory (scripted models, a real vector store index)."""

from li_support import HashEmbedder, ScriptedGenerator
from llama_index.core import Document
from llama_index.retrievers.memorag import MemoRAGEmbedding, MemoRAGRetriever

from memorag_integrations import PromptMemory


def retriever():
    docs = [Document(text="The launch happened in 1969 from Florida.", doc_id="launch"),
            Document(text="Rain and wind filled the weather log for March.", doc_id="weather")]
    return MemoRAGRetriever.from_documents(docs, memory=PromptMemory(ScriptedGenerator()),
                                           embed_model=MemoRAGEmbedding(HashEmbedder()), chunk_tokens=8,
                                           chunk_overlap=0, similarity_top_k=10)


def indexed_doc_ids(r):
    return sorted({node.metadata["doc_id"] for node in r.index.docstore.docs.values()})


def test_the_index_follows_inserts_deletes_and_updates():
    r = retriever()
    r.insert(Document(text="The harbour counted ships every night in August.", doc_id="harbour"))
    assert indexed_doc_ids(r) == ["harbour", "launch", "weather"] and "August" in r.engine.memory.context
    assert "harbour" in {n.node.metadata["doc_id"] for n in r.retrieve("ships in August")}

    r.delete_ref_doc("weather")
    assert indexed_doc_ids(r) == ["harbour", "launch"] and "Rain" not in r.engine.memory.context
    assert "weather" not in {n.node.metadata["doc_id"] for n in r.retrieve("rain and wind")}

    r.update_ref_doc(Document(text="The launch was moved to 1970.", doc_id="launch"))
    texts = [n.get_content() for n in r.index.docstore.docs.values() if n.metadata["doc_id"] == "launch"]
    assert texts and all("1969" not in t for t in texts) and "1970" in " ".join(texts)


def test_the_query_engine_offers_the_same_operations(tmp_path):
    from llama_index.query_engine.memorag import MemoRAGQueryEngine

    engine = MemoRAGQueryEngine(retriever())
    engine.insert(Document(text="The harbour counted ships every night in August.", doc_id="harbour"))
    engine.delete_ref_doc("weather")
    response = engine.query("How many ships came in August?")
    assert {n.node.metadata["doc_id"] for n in response.source_nodes} <= {"launch", "harbour"}
    folder = engine.persist(tmp_path / "saved")  # the changed corpus saves and loads
    loaded = MemoRAGQueryEngine.load(folder, memory=PromptMemory(ScriptedGenerator()),
                                     embed_model=MemoRAGEmbedding(HashEmbedder()))
    assert [d.doc_id for d in loaded.retriever.engine.documents] == ["launch", "harbour"]
