"""MemoRAG for LlamaIndex: a retriever whose queries are expanded by a global memory of the corpus."""

from memorag_integrations.errors import require

require("llama_index.core", "llamaindex", "llama_index.retrievers.memorag")

from llama_index.retrievers.memorag.base import MemoRAGQueryBundle, MemoRAGRetriever  # noqa: E402
from llama_index.retrievers.memorag.embedding import LlamaIndexEmbedder, MemoRAGEmbedding  # noqa: E402
from llama_index.retrievers.memorag.events import MemoRAGCluesEvent  # noqa: E402
from llama_index.retrievers.memorag.nodes import chunk_nodes, to_core_documents  # noqa: E402

__all__ = ["LlamaIndexEmbedder", "MemoRAGCluesEvent", "MemoRAGEmbedding", "MemoRAGQueryBundle", "MemoRAGRetriever",
           "chunk_nodes", "to_core_documents"]
