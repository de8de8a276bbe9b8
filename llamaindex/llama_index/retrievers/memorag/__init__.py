"""MemoRAG for LlamaIndex: a retriever whose queries are expanded by a global memory of the corpus."""

from llama_index.retrievers.memorag.base import MemoRAGQueryBundle, MemoRAGRetriever
from llama_index.retrievers.memorag.embedding import LlamaIndexEmbedder, MemoRAGEmbedding
from llama_index.retrievers.memorag.events import MemoRAGCluesEvent
from llama_index.retrievers.memorag.nodes import chunk_nodes, to_core_documents

__all__ = ["LlamaIndexEmbedder", "MemoRAGCluesEvent", "MemoRAGEmbedding", "MemoRAGQueryBundle", "MemoRAGRetriever",
           "chunk_nodes", "to_core_documents"]
