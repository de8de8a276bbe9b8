"""MemoRAG's embedders for LlamaIndex, where LlamaIndex looks for embeddings: a core embedder (the
offline MiniLM by default) as a ``BaseEmbedding``, and a LlamaIndex embedding as a core embedder."""

from memorag_integrations.errors import require

require("llama_index.core", "llamaindex", "llama_index.embeddings.memorag")

from llama_index.retrievers.memorag.embedding import LlamaIndexEmbedder, MemoRAGEmbedding  # noqa: E402

__all__ = ["LlamaIndexEmbedder", "MemoRAGEmbedding"]
