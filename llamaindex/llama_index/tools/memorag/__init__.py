"""MemoRAG for LlamaIndex (tools)."""
