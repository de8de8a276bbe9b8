"""Documents in and out of LlamaIndex, and the core's exact-span chunks as LlamaIndex nodes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode

from memorag_integrations.documents import as_documents
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.retrieval.chunking import Chunker
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.schema import Chunk, Document

#: Node metadata written by MemoRAG: where the chunk lies, and which queries found it.
POSITION_KEYS = ("doc_id", "start", "end")
MATCHED_QUERIES = "matched_queries"
RERANK_SCORE = "rerank_score"


def to_core_documents(documents: Iterable[Any] | Any) -> list[Document]:
    """LlamaIndex documents (their ``text``, ``doc_id`` and ``metadata``), core ones, or strings."""
    if isinstance(documents, (str, Document)) or hasattr(documents, "get_content"):
        documents = [documents]
    elif isinstance(documents, (bytes, bytearray)) or not isinstance(documents, Iterable):
        raise InvalidInputError(f"expected documents (LlamaIndex Documents, core Documents or strings), got "
                                f"{type(documents).__name__}")
    out: list[Any] = []
    for doc in documents:
        if isinstance(doc, BaseNode):
            text = doc.get_content()
            if not isinstance(text, str):
                raise InvalidInputError(f"document {doc.node_id} holds no text; MemoRAG reads text documents")
            out.append(Document(text, doc.node_id, dict(doc.metadata)))
        else:
            out.append(doc)
    return as_documents(out)


def chunk_nodes(documents: Sequence[Document], chunks: Sequence[Chunk] | Chunker | DenseRetriever) -> list[TextNode]:
    """Nodes of the core's chunks: ``node.text == document.text[start:end]`` exactly.

    ``chunks`` are the chunks themselves (``engine.chunks()``), or a chunker that cuts them.
    Ids are stable (a UUID of the document id and span, which every vector store accepts), so
    indexing the same corpus twice gives the same nodes.
    The position keys are kept out of the embedded and the LLM text.
    """
    if isinstance(chunks, DenseRetriever):
        chunks = chunks.chunker
    if isinstance(chunks, Chunker):
        chunks = chunks.chunk(documents)
    sources = {str(d.doc_id): d for d in documents}
    nodes = []
    for chunk in chunks:
        metadata = {**sources[chunk.doc_id].metadata, "doc_id": chunk.doc_id, "start": chunk.start, "end": chunk.end}
        nodes.append(TextNode(
            id_=chunk.stable_id, text=chunk.text, metadata=metadata,
            excluded_embed_metadata_keys=list(metadata),
            excluded_llm_metadata_keys=[*POSITION_KEYS, MATCHED_QUERIES],
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.doc_id)},
        ))
    return nodes
