"""MemoRAG for LlamaIndex: a query engine over a global memory of a long corpus."""

from llama_index.query_engine.memorag.base import TASKS, MemoRAGQueryEngine

__all__ = ["TASKS", "MemoRAGQueryEngine"]
