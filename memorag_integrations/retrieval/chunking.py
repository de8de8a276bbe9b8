"""Token-aware chunking that keeps exact character offsets into the source text.

The spans are cut by :mod:`memorag_integrations.text`; a :class:`Chunker` is one value that cuts
every document the same way, measured in an embedder's tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memorag_integrations.defaults import CHUNK_OVERLAP, CHUNK_TOKENS
from memorag_integrations.schema import Chunk, Document
from memorag_integrations.text import OffsetsFn, chunk_text, regex_offsets

if TYPE_CHECKING:
    from memorag_integrations.retrieval.embedders import Embedder


@dataclass(frozen=True)
class Chunker:
    """Documents -> chunks with exact char offsets: one value, used by every index.

    ``offsets_fn`` tokenizes (an embedder's ``token_offsets``; whitespace words by default).
    ``chunk_tokens`` is capped by :meth:`for_embedder` so that no chunk is truncated when embedded.
    """

    offsets_fn: OffsetsFn = regex_offsets
    chunk_tokens: int = CHUNK_TOKENS
    chunk_overlap: int = CHUNK_OVERLAP

    @classmethod
    def for_embedder(cls, embedder: Embedder, chunk_tokens: int = CHUNK_TOKENS,
                     chunk_overlap: int = CHUNK_OVERLAP) -> Chunker:
        """Chunks measured in ``embedder``'s tokens that fit its input (two tokens are its own
        [CLS]/[SEP]); the overlap is at most half a chunk."""
        tokens = min(chunk_tokens, embedder.max_tokens - 2)
        return cls(embedder.token_offsets, tokens, min(chunk_overlap, tokens // 2))

    def spans(self, text: str) -> list[tuple[int, int]]:
        return chunk_text(text, self.offsets_fn, self.chunk_tokens, self.chunk_overlap)

    def chunk(self, documents: Sequence[Document], *, first_id: int = 0) -> list[Chunk]:
        """Every document's chunks, numbered from ``first_id``: ``chunk.text == doc.text[start:end]``."""
        chunks: list[Chunk] = []
        for doc in documents:
            for start, end in self.spans(doc.text):
                chunks.append(Chunk(first_id + len(chunks), str(doc.doc_id), start, end, doc.text[start:end]))
        return chunks

    def config(self) -> dict[str, Any]:
        return {"chunk_tokens": self.chunk_tokens, "chunk_overlap": self.chunk_overlap}
