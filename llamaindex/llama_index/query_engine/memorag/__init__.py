"""MemoRAG for LlamaIndex (query_engine)."""
