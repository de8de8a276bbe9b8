"""Documents in and out of LlamaIndex, and the core's exact-span chunks as LlamaIndex nodes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode

from memorag_integrations.documents import as_documents
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.retrieval.chunking import chunk_text
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.schema import Document

#: Node metadata written by MemoRAG: where the chunk lies, and which queries found it.
POSITION_KEYS = ("doc_id", "start", "end")
MATCHED_QUERIES = "matched_queries"


def to_core_documents(documents: Iterable[Any] | Any) -> list[Document]:
    """LlamaIndex documents (their ``text``, ``doc_id`` and ``metadata``), core ones, or strings."""
    if isinstance(documents, (str, Document)) or hasattr(documents, "get_content"):
        documents = [documents]
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


def chunk_nodes(documents: Sequence[Document], chunker: DenseRetriever) -> list[TextNode]:
    """Nodes from the core's chunker: ``node.text == document.text[start:end]`` exactly.

    Ids are stable (document id and span), so indexing the same corpus twice gives the same nodes.
    The position keys are kept out of the embedded and the LLM text.
    """
    nodes = []
    for doc in documents:
        for start, end in chunk_text(doc.text, chunker.embedder.token_offsets, chunker.chunk_tokens,
                                     chunker.chunk_overlap):
            metadata = {**doc.metadata, "doc_id": str(doc.doc_id), "start": start, "end": end}
            nodes.append(TextNode(
                id_=f"{doc.doc_id}:{start}-{end}", text=doc.text[start:end], metadata=metadata,
                excluded_embed_metadata_keys=list(metadata),
                excluded_llm_metadata_keys=[*POSITION_KEYS, MATCHED_QUERIES],
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=str(doc.doc_id))},
            ))
    return nodes
