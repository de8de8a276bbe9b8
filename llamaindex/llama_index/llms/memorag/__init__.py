"""MemoRAG for LlamaIndex (llms)."""
