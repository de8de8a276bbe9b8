"""MemoRAG for LlamaIndex: agent tools that ask or summarize a long document."""

from memorag_integrations.errors import require

require("llama_index.core", "llamaindex", "llama_index.tools.memorag")

from llama_index.tools.memorag.base import (MemoRAGQueryEngineTool, ask_document_tool, document_tools,  # noqa: E402
                                            summarize_document_tool)

__all__ = ["MemoRAGQueryEngineTool", "ask_document_tool", "document_tools", "summarize_document_tool"]
