"""The framework peers' glue: their retrievers over OUR chunk list, and their LLM wrappers over OUR model.

LangChain's MultiQueryRetriever and LlamaIndex's QueryFusionRetriever / HyDEQueryTransform run as
their libraries ship them; only what they call (a base retriever, an LLM) is ours, so every method
searches the same chunks with the same embedder and writes with the same model.

The LLM wrappers are the project's own bridges (``langchain_memorag.GeneratorChatModel``,
``llama_index.llms.memorag.GeneratorLLM``), each capped at the same number of new tokens.
"""

from __future__ import annotations

from typing import Any

from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.retrieval.retriever import DenseRetriever

CHUNK_ID = "chunk_id"


def langchain_chat_model(generator: TextGenerator, max_new_tokens: int) -> Any:
    """A LangChain chat model that writes with ``generator`` (the LangChain adapter's bridge)."""
    from langchain_memorag import GeneratorChatModel

    return GeneratorChatModel(generator=generator, max_tokens=max_new_tokens)


def llamaindex_llm(generator: TextGenerator, max_new_tokens: int) -> Any:
    """A LlamaIndex LLM that writes with ``generator`` (the LlamaIndex adapter's bridge)."""
    from llama_index.llms.memorag import GeneratorLLM

    return GeneratorLLM(generator, max_new_tokens=max_new_tokens)


def langchain_retriever(retriever: DenseRetriever, k: int) -> Any:
    """A LangChain retriever over the core's chunks; each Document carries its ``chunk_id``."""
    from langchain_core.documents import Document as LCDocument
    from langchain_core.retrievers import BaseRetriever

    class _ChunkRetriever(BaseRetriever):
        core: Any
        k: int = 5
        seen: list = []  # every query the peer searched with, to show what its LLM wrote

        def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[LCDocument]:
            self.seen.append(query)
            hits = self.core.search([query], self.k)[0]
            return [LCDocument(page_content=h.item.text, metadata={CHUNK_ID: h.key, "score": h.score}) for h in hits]

    return _ChunkRetriever(core=retriever, k=k)


def llamaindex_retriever(retriever: DenseRetriever, k: int) -> Any:
    """A LlamaIndex retriever over the core's chunks; each node carries its ``chunk_id``."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, TextNode

    class _ChunkRetriever(BaseRetriever):
        def __init__(self, core: DenseRetriever, k: int) -> None:
            super().__init__()
            self.core, self.k = core, k
            self.seen: list[str] = []  # every query the peer searched with

        def _retrieve(self, query_bundle) -> list[NodeWithScore]:
            self.seen.append(query_bundle.query_str)
            hits = self.core.search([query_bundle.query_str], self.k)[0]
            return [NodeWithScore(node=TextNode(text=h.item.text, id_=f"chunk-{h.key}",
                                                metadata={CHUNK_ID: h.key}), score=h.score) for h in hits]

    return _ChunkRetriever(retriever, k)
