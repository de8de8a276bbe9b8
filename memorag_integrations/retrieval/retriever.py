"""The core's own searcher: chunks with char offsets, an embedder and a FAISS index."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from memorag_integrations.defaults import CHUNK_OVERLAP, CHUNK_TOKENS
from memorag_integrations.progress import Bar, Progress
from memorag_integrations.retrieval.chunking import Chunker
from memorag_integrations.retrieval.embedders import Embedder, SentenceTransformerEmbedder
from memorag_integrations.retrieval.index import FaissIndex
from memorag_integrations.retrieval.search import Hit, Searcher
from memorag_integrations.schema import Chunk, Document

#: Texts embedded per call when a progress callback wants to hear of each batch.
EMBED_BATCH = 64
CHUNKS_FILE = "chunks.jsonl"
INDEX_FILE = "index.faiss"


class DenseRetriever(Searcher):
    """Dense retrieval over token-sized chunks (see :class:`Chunker`); hits are :class:`Chunk` s."""

    def __init__(self, embedder: Embedder | None = None, *, chunk_tokens: int = CHUNK_TOKENS,
                 chunk_overlap: int = CHUNK_OVERLAP) -> None:
        self.embedder = embedder or SentenceTransformerEmbedder()
        self.chunker = Chunker.for_embedder(self.embedder, chunk_tokens, chunk_overlap)
        self.chunks: list[Chunk] = []
        self.index: FaissIndex | None = None

    @property
    def chunk_tokens(self) -> int:
        return self.chunker.chunk_tokens

    @property
    def chunk_overlap(self) -> int:
        return self.chunker.chunk_overlap

    def config(self) -> dict[str, Any]:
        return {"embedder": self.embedder.identity, **self.chunker.config()}

    def clear(self) -> None:
        self.chunks, self.index = [], None

    def add(self, documents: Sequence[Document], *, progress: Progress = False) -> list[Chunk]:
        """Chunk, embed and index ``documents``; returns the new chunks."""
        new = self.chunker.chunk(documents, first_id=len(self.chunks))
        if not new:
            return []
        vectors = self._encode([c.text for c in new], progress)
        if self.index is None:
            self.index = FaissIndex(vectors.shape[1])
        self.index.add(vectors)
        self.chunks.extend(new)
        return new

    def remove(self, doc_ids: set[str]) -> int:
        """Drop the chunks of ``doc_ids`` without embedding anything again (the kept vectors are
        copied into a new index); the kept chunks are renumbered. Returns how many were dropped."""
        keep = [i for i, c in enumerate(self.chunks) if c.doc_id not in doc_ids]
        dropped = len(self.chunks) - len(keep)
        if not dropped:
            return 0
        vectors = self.index.vectors()[keep] if self.index is not None else None
        self.chunks = [replace(self.chunks[i], chunk_id=n) for n, i in enumerate(keep)]
        self.index = None
        if vectors is not None and len(vectors):
            self.index = FaissIndex(vectors.shape[1])
            self.index.add(vectors)
        return dropped

    def _encode(self, texts: list[str], progress: Progress) -> np.ndarray:
        """The texts' vectors; with a progress callback, in batches so that it hears of each."""
        if not callable(progress):
            return self.embedder.encode(texts, progress=bool(progress))
        bar = Bar(progress, "embedding chunks", len(texts), unit="chunk")
        parts = []
        for i in range(0, len(texts), EMBED_BATCH):
            parts.append(self.embedder.encode(texts[i:i + EMBED_BATCH]))
            bar.update(len(parts[-1]))
        bar.close()
        return np.concatenate(parts)

    def search(self, queries: Sequence[str], k: int, *, among: Sequence[int] | None = None) -> list[list[Hit]]:
        """The top ``k`` chunks of each query, best first, keyed by chunk id; ``among``: only
        these chunk ids are candidates."""
        if not queries:
            return []
        if self.index is None or not self.chunks or (among is not None and not len(among)):
            return [[] for _ in queries]
        scores, ids = self.index.search(self.embedder.encode(list(queries)), k, among=among)
        return [[Hit(int(i), self.chunks[int(i)], float(s)) for s, i in zip(row_s, row_i) if i >= 0]
                for row_s, row_i in zip(scores, ids)]

    def within(self, doc_ids: Collection[str | None]) -> Searcher:
        """This retriever searching only the chunks of ``doc_ids`` (the same index, filtered)."""
        return _Within(self, [c.chunk_id for c in self.chunks if c.doc_id in doc_ids])

    def text_of(self, item: Chunk) -> str:
        return item.text

    def save(self, folder: Path) -> list[str]:
        """Write the chunks and index into ``folder``; returns the file names written."""
        write_chunks(folder, self.chunks)
        files = [CHUNKS_FILE]
        if self.index is not None:
            self.index.save(folder / INDEX_FILE)
            files.append(INDEX_FILE)
        return files

    def load(self, folder: Path) -> None:
        """Read what :meth:`save` wrote; ``ValueError`` when the chunks and the index do not fit
        each other or this retriever's embedder."""
        chunks = read_chunks(folder)
        index = FaissIndex.load(folder / INDEX_FILE, count=len(chunks)) if chunks else None
        if index is not None:
            dim = self.embedder.encode(["dimension check"]).shape[1]
            if dim != index.dim:
                raise ValueError(f"the index holds vectors of dimension {index.dim}, the embedder writes {dim}")
        self.chunks, self.index = chunks, index

    def __repr__(self) -> str:
        return (f"DenseRetriever(embedder={self.embedder.identity!r}, chunk_tokens={self.chunk_tokens}, "
                f"chunks={len(self.chunks)})")


class _Within(Searcher):
    """A :class:`DenseRetriever` limited to some of its chunks."""

    def __init__(self, retriever: DenseRetriever, chunk_ids: list[int]) -> None:
        self.retriever, self.chunk_ids = retriever, chunk_ids

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        return self.retriever.search(queries, k, among=self.chunk_ids)

    def within(self, doc_ids: Collection[str | None]) -> Searcher:
        chunks = self.retriever.chunks
        return _Within(self.retriever, [i for i in self.chunk_ids if chunks[i].doc_id in doc_ids])

    def text_of(self, item: Chunk) -> str:
        return item.text


def write_chunks(folder: Path, chunks: Sequence[Chunk]) -> None:
    with open(folder / CHUNKS_FILE, "w", encoding="utf-8") as fh:
        for c in chunks:
            fh.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")


def read_chunks(folder: Path) -> list[Chunk]:
    with open(folder / CHUNKS_FILE, encoding="utf-8") as fh:
        return [Chunk(**json.loads(line)) for line in fh if line.strip()]
