"""The core's own retriever: chunks with char offsets, an embedder and a FAISS index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memorag_integrations.retrieval.chunking import chunk_text
from memorag_integrations.retrieval.embedders import Embedder, SentenceTransformerEmbedder
from memorag_integrations.retrieval.index import FaissIndex
from memorag_integrations.schema import Chunk, Document

CHUNKS_FILE = "chunks.jsonl"
INDEX_FILE = "index.faiss"


class DenseRetriever:
    """Dense retrieval over token-sized chunks. ``chunk_tokens`` is capped to fit the embedder."""

    def __init__(self, embedder: Embedder | None = None, *, chunk_tokens: int = 200,
                 chunk_overlap: int = 24) -> None:
        self.embedder = embedder or SentenceTransformerEmbedder()
        # Two tokens are the embedder's own [CLS]/[SEP]: leave room so nothing is truncated.
        self.chunk_tokens = min(chunk_tokens, self.embedder.max_tokens - 2)
        self.chunk_overlap = min(chunk_overlap, self.chunk_tokens // 2)
        self.chunks: list[Chunk] = []
        self.index: FaissIndex | None = None

    def config(self) -> dict[str, Any]:
        return {"embedder": self.embedder.identity, "chunk_tokens": self.chunk_tokens,
                "chunk_overlap": self.chunk_overlap}

    def clear(self) -> None:
        self.chunks, self.index = [], None

    def add(self, documents: Sequence[Document], *, progress: bool = False) -> list[Chunk]:
        """Chunk, embed and index ``documents``; returns the new chunks."""
        new: list[Chunk] = []
        for doc in documents:
            for start, end in chunk_text(doc.text, self.embedder.token_offsets, self.chunk_tokens,
                                         self.chunk_overlap):
                new.append(Chunk(len(self.chunks) + len(new), str(doc.doc_id), start, end, doc.text[start:end]))
        if not new:
            return []
        vectors = self.embedder.encode([c.text for c in new], progress=progress)
        if self.index is None:
            self.index = FaissIndex(vectors.shape[1])
        self.index.add(vectors)
        self.chunks.extend(new)
        return new

    def search(self, queries: Sequence[str], k: int) -> list[list[tuple[Chunk, float]]]:
        """The top ``k`` chunks of each query, best first."""
        if not queries:
            return []
        if self.index is None or not self.chunks:
            return [[] for _ in queries]
        scores, ids = self.index.search(self.embedder.encode(list(queries)), k)
        return [[(self.chunks[int(i)], float(s)) for s, i in zip(row_s, row_i) if i >= 0]
                for row_s, row_i in zip(scores, ids)]

    def save(self, folder: Path) -> list[str]:
        """Write the chunks and index into ``folder``; returns the file names written."""
        with open(folder / CHUNKS_FILE, "w", encoding="utf-8") as fh:
            for c in self.chunks:
                fh.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
        files = [CHUNKS_FILE]
        if self.index is not None:
            self.index.save(folder / INDEX_FILE)
            files.append(INDEX_FILE)
        return files

    def load(self, folder: Path) -> None:
        with open(folder / CHUNKS_FILE, encoding="utf-8") as fh:
            self.chunks = [Chunk(**json.loads(line)) for line in fh if line.strip()]
        index_path = folder / INDEX_FILE
        self.index = FaissIndex.load(index_path) if index_path.exists() else None
        if self.index is not None and len(self.index) != len(self.chunks):
            raise ValueError(f"the index holds {len(self.index)} vectors for {len(self.chunks)} chunks")

    def __repr__(self) -> str:
        return (f"DenseRetriever(embedder={self.embedder.identity!r}, chunk_tokens={self.chunk_tokens}, "
                f"chunks={len(self.chunks)})")
