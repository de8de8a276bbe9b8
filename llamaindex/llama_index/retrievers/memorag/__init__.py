"""MemoRAG for LlamaIndex (retrievers)."""
