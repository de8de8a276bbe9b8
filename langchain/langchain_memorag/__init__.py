"""MemoRAG for LangChain: retriever, chain and agent tool over the memorag_integrations engine."""
