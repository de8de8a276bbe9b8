"""MemoRAG for LlamaIndex: a query engine over a global memory of a long corpus."""

from memorag_integrations.errors import require

require("llama_index.core", "llamaindex", "llama_index.query_engine.memorag")

from llama_index.query_engine.memorag.base import TASKS, MemoRAGQueryEngine  # noqa: E402

__all__ = ["TASKS", "MemoRAGQueryEngine"]
