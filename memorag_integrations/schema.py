"""Plain data that flows through the engine: documents, chunks, clues, evidence, answers."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

#: The namespace of chunks' stable ids (uuid5 of ``"doc_id:start-end"``).
CHUNK_NAMESPACE = uuid.UUID("5b0f8f5e-3c1a-5d7e-9a4b-6d2c1e0f7a83")


@dataclass(frozen=True)
class Document:
    """A text to memorize. ``doc_id`` names it in evidence; ``metadata`` is kept as given."""

    text: str
    doc_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A retrievable span of one document: ``text == document.text[start:end]``."""

    chunk_id: int
    doc_id: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def stable_id(self) -> str:
        """The chunk's id in an outside vector store: a UUID made from its document id and span,
        so the same chunk always gets the same id, in the form every store accepts (Qdrant and
        Weaviate take UUIDs only)."""
        return str(uuid.uuid5(CHUNK_NAMESPACE, f"{self.doc_id}:{self.start}-{self.end}"))


@dataclass(frozen=True)
class Clues:
    """What the memory wrote for a query; each item becomes a retrieval query."""

    spans: list[str] = field(default_factory=list)
    surrogate_questions: list[str] = field(default_factory=list)
    draft: str | None = None

    def queries(self) -> list[str]:
        items = [*self.spans, *self.surrogate_questions]
        if self.draft:
            items.append(self.draft)
        return items

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _span_as_list(record: dict[str, Any]) -> dict[str, Any]:
    """A record as JSON writes it: its ``char_span`` a list, as it reads back."""
    record["char_span"] = list(record["char_span"])
    return record


@dataclass(frozen=True)
class Evidence:
    """A retrieved chunk with its fused score, the queries that found it, and the reranker's score
    when one read it."""

    text: str
    score: float
    doc_id: str
    char_span: tuple[int, int]
    matched_queries: list[str] = field(default_factory=list)
    chunk_id: int | None = None
    rerank_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return _span_as_list(asdict(self))


@dataclass(frozen=True)
class Quote:
    """A sentence of the corpus quoted as it stands: ``document.text[start:end] == text`` for its
    ``char_span``. ``evidence`` is the number (1-based) of the evidence passage it comes from, as
    ``[n]`` cites it in the answer's text; ``score`` is how well it answers (similarity to the
    question) or how central it is (a summary's)."""

    text: str
    doc_id: str
    char_span: tuple[int, int]
    score: float
    evidence: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return _span_as_list(asdict(self))


@dataclass(frozen=True)
class Citation:
    """An evidence passage as the answer numbers it: ``[number]`` in the text is this passage;
    ``cited`` says whether the text refers to it."""

    number: int
    doc_id: str
    char_span: tuple[int, int]
    cited: bool

    def to_dict(self) -> dict[str, Any]:
        return _span_as_list(asdict(self))


_CITE = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Answer:
    """The result of :meth:`MemoRAG.answer`: text, the evidence it rests on, clues and timings (s).

    ``mode`` is how the text was made: ``"generate"`` (a model wrote it from the evidence, numbered
    ``[1]``, ``[2]``... as :attr:`citations` lists them) or ``"extractive"`` (the text is the
    ``quotes``, sentences of the corpus with their exact spans, each followed by its evidence's
    number)."""

    text: str
    evidence: list[Evidence] = field(default_factory=list)
    clues: Clues | None = None
    timings: dict[str, float] = field(default_factory=dict)
    task: str = "memorag"
    mode: str = "generate"
    quotes: list[Quote] = field(default_factory=list)

    @property
    def citations(self) -> list[Citation]:
        """The evidence as numbered for the answer (the generator's prompt numbers it the same
        way), each marked ``cited`` when the text refers to its number."""
        cited = {int(n) for n in _CITE.findall(self.text)}
        return [Citation(i, e.doc_id, e.char_span, i in cited) for i, e in enumerate(self.evidence, 1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "text": self.text,
            "evidence": [e.to_dict() for e in self.evidence],
            "clues": self.clues.to_dict() if self.clues else None,
            "timings": dict(self.timings),
            "mode": self.mode,
            "quotes": [q.to_dict() for q in self.quotes],
            "citations": [c.to_dict() for c in self.citations],
        }
