"""MemoRAG for LangChain: retriever, chain and agent tool over the memorag_integrations engine."""

from memorag_integrations.errors import require

require("langchain_core", "langchain", "langchain_memorag")

from langchain_memorag.bridges import (ChatModelGenerator, EmbedderEmbeddings, GeneratorChatModel,  # noqa: E402
                                       LangChainEmbedder)
from langchain_memorag.chain import create_memorag_chain  # noqa: E402
from langchain_memorag.retriever import CLUES_EVENT, MemoRAGRetriever  # noqa: E402
from langchain_memorag.tool import MemoRAGTool, create_memorag_tool  # noqa: E402

__all__ = [
    "CLUES_EVENT", "ChatModelGenerator", "EmbedderEmbeddings", "GeneratorChatModel", "LangChainEmbedder",
    "MemoRAGRetriever", "MemoRAGTool", "create_memorag_chain", "create_memorag_tool",
]
