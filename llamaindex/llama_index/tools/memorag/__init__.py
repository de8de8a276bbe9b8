"""MemoRAG for LlamaIndex: agent tools that ask or summarize a long document."""

from llama_index.tools.memorag.base import (MemoRAGQueryEngineTool, ask_document_tool, document_tools,
                                            summarize_document_tool)

__all__ = ["MemoRAGQueryEngineTool", "ask_document_tool", "document_tools", "summarize_document_tool"]
