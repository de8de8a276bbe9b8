"""Mismatches a LangChain user hits: a store of another dimension is refused before anything is read
or written, and a chat model that cannot call tools says which can drive an agent."""

import faiss
import numpy as np
import pytest
from fakes import HashEmbedder, ScriptedGenerator
from langchain_community.docstore.in_memory import InMemoryDocstore
from langchain_community.vectorstores import FAISS
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_memorag import EmbedderEmbeddings, GeneratorChatModel, MemoRAGRetriever, create_memorag_tool
from memorag_integrations import InvalidInputError, MemoRAG, PromptMemory
from memorag_integrations.retrieval.retriever import DenseRetriever

TEXT = "The launch happened in 1969.\n\nThe crew of three trained in Houston."


def faiss_store(dim: int) -> FAISS:
    class Fixed(Embeddings):  # embeddings of ``dim`` dimensions, to build a store that does not fit the engine's
        def embed_documents(self, texts):
            return np.ones((len(texts), dim)).tolist()

        def embed_query(self, text):
            return [1.0] * dim

    store = FAISS(Fixed(), faiss.IndexFlatL2(dim), InMemoryDocstore(), {})
    store.add_texts(["an unrelated note"])
    return store


@pytest.mark.parametrize("dim", [8, 768])
def test_a_faiss_store_of_another_dimension_is_refused_before_memorizing(dim):
    memory = PromptMemory(ScriptedGenerator())
    store = faiss_store(dim)
    with pytest.raises(InvalidInputError, match=f"holds vectors of dimension {dim} but the embeddings write 128"):
        MemoRAGRetriever.from_texts([TEXT], EmbedderEmbeddings(HashEmbedder()), memory=memory, vectorstore=store)
    assert not memory.is_ready and memory.generator.calls == []  # nothing was read
    assert store.index.ntotal == 1


def test_from_engine_refuses_a_store_of_another_dimension_before_writing():
    engine = MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(HashEmbedder(), chunk_tokens=10,
                                                                      chunk_overlap=0), progress=False).memorize(TEXT)
    store = faiss_store(8)
    with pytest.raises(InvalidInputError, match="dimension 8 but the embeddings write 128"):
        MemoRAGRetriever.from_engine(engine, store)
    assert store.index.ntotal == 1  # nothing written next to the old vectors
    memory_store = InMemoryVectorStore(EmbedderEmbeddings(HashEmbedder(dim=16)))
    memory_store.add_texts(["an unrelated note"])
    with pytest.raises(InvalidInputError, match="InMemoryVectorStore store holds vectors of dimension 16"):
        MemoRAGRetriever.from_engine(engine, memory_store)
    fitting = MemoRAGRetriever.from_engine(engine, faiss_store(128), EmbedderEmbeddings(HashEmbedder()))
    assert fitting.invoke("When was the launch?")


def test_a_chat_model_without_tool_calling_says_what_can_drive_an_agent():
    from langchain.agents import create_agent

    retriever = MemoRAGRetriever(engine=MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(
        HashEmbedder(), chunk_tokens=10, chunk_overlap=0), progress=False).memorize(TEXT))
    model = GeneratorChatModel(generator=ScriptedGenerator())
    with pytest.raises(NotImplementedError, match="cannot drive an agent.*chatml-function-calling.*ChatOpenAI"):
        agent = create_agent(model, tools=[create_memorag_tool(retriever)])
        agent.invoke({"messages": [("user", "When was the launch?")]})


def test_the_chat_bridge_defaults_to_the_embedded_model(monkeypatch):
    import langchain_memorag.bridges as bridges

    made = []
    monkeypatch.setattr(bridges, "_default_generator", lambda: made.append(1) or ScriptedGenerator())
    model = GeneratorChatModel()
    assert made == [1] and model.invoke("hi").content
