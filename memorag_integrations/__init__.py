"""MemoRAG: memory-augmented retrieval-augmented generation over long documents."""

from memorag_integrations.documents import as_documents, load_document
from memorag_integrations.engine import MemoRAG
from memorag_integrations.errors import (BinaryFileError, CorruptStoreError, DocumentReadError, EmptyQueryError,
                                         EmptyTextError, GenerationError, IncompatibleStoreError, InvalidInputError,
                                         MemoRAGError, MissingDependencyError, NotMemorizedError, QueryTooLongError,
                                         StoreError, StoreExistsError, StoreNotFoundError, StoreWriteError)
from memorag_integrations.filters import DocumentFilter
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.memory.base import Memory
from memorag_integrations.memory.prompt import PromptMemory
from memorag_integrations.retrieval.chunking import Chunker
from memorag_integrations.retrieval.fusion import reciprocal_rank_fusion
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.retrieval.search import Hit, Searcher
from memorag_integrations.schema import Answer, Chunk, Citation, Clues, Document, Evidence, Quote
from memorag_integrations.version import __version__ as __version__

__all__ = [
    "Answer", "BinaryFileError", "Chunk", "Chunker", "Citation", "Clues", "CorruptStoreError", "DenseRetriever",
    "Document", "DocumentFilter", "DocumentReadError", "EmptyQueryError", "EmptyTextError", "Evidence",
    "GenerationError", "Hit", "IncompatibleStoreError", "InvalidInputError", "Memory", "MemoRAG", "MemoRAGError",
    "MissingDependencyError", "NotMemorizedError", "PromptMemory", "QueryTooLongError", "Quote", "Searcher",
    "StoreError",
    "StoreExistsError", "StoreNotFoundError", "StoreWriteError", "TextGenerator", "as_documents", "load_document",
    "reciprocal_rank_fusion",
]
