"""A LlamaIndex vector store of another dimension is refused before anything is read or written."""

import faiss
import pytest
from li_support import LAUNCH_TEXT, HashEmbedder, ScriptedGenerator
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.retrievers.memorag import MemoRAGEmbedding, MemoRAGRetriever
from llama_index.vector_stores.faiss import FaissVectorStore

from memorag_integrations import InvalidInputError, PromptMemory


@pytest.mark.parametrize("dim", [8, 768])
def test_a_faiss_vector_store_of_another_dimension_is_refused_before_memorizing(dim):
    memory = PromptMemory(ScriptedGenerator())
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(dim))
    with pytest.raises(InvalidInputError, match=f"holds vectors of dimension {dim} but the embedding model writes 128"):
        MemoRAGRetriever.from_documents([LAUNCH_TEXT], memory=memory, embed_model=MemoRAGEmbedding(HashEmbedder()),
                                        vector_store=store)
    assert not memory.is_ready and store.client.ntotal == 0


def test_an_index_of_another_dimension_is_refused_and_a_fitting_one_is_filled():
    small = MemoRAGEmbedding(HashEmbedder(dim=16))
    index = VectorStoreIndex([TextNode(text="an unrelated note")], embed_model=small)
    memory = PromptMemory(ScriptedGenerator())
    with pytest.raises(InvalidInputError, match="dimension 16 but the embedding model writes 128"):
        MemoRAGRetriever.from_documents([LAUNCH_TEXT], memory=memory, embed_model=MemoRAGEmbedding(HashEmbedder()),
                                        index=index)
    assert len(index.docstore.docs) == 1
    fitting = FaissVectorStore(faiss_index=faiss.IndexFlatIP(128))
    retriever = MemoRAGRetriever.from_documents([LAUNCH_TEXT], memory=memory,
                                                embed_model=MemoRAGEmbedding(HashEmbedder()),
                                                storage_context=StorageContext.from_defaults(vector_store=fitting))
    assert fitting.client.ntotal > 0 and retriever.retrieve("When was the launch?")
