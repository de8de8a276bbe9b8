"""Extractive answers: the corpus's own sentences, quoted with their exact place, instead of text a
model writes.

A small model such as the embedded SmolLM2-135M cannot write a faithful answer from evidence: it
invents. What it retrieves can still be shown truthfully. In ``extractive`` mode the answer is the
few sentences of the evidence that best answer the question (by rank fusion of the embedder's
similarity to the question and the rank of their passage, which the reranker had read: a fraction
of a second, where the reranker's likelihood of each sentence costs seconds and chose worse on the
main job's questions), and a summary is the most central sentences (closest to the centroid of the
corpus's chunk vectors), in document order. Each :class:`~memorag_integrations.schema.Quote` holds
its document and char span: ``document.text[start:end] == quote.text``, always.

``answer_mode``: ``"extractive"``, ``"generate"`` (the generator writes the answer from the numbered
evidence) or ``"auto"``: extractive when the answering model is the embedded default, generate when
the user named a model (an OpenAI-compatible endpoint, a GGUF file, a transformers model).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.schema import Evidence, Quote

AnswerMode = Literal["extractive", "generate", "auto"]
ANSWER_MODES: tuple[str, ...] = ("extractive", "generate", "auto")
#: Sentences in an extractive answer, and in an extractive summary, at most.
ANSWER_SENTENCES = 3
SUMMARY_SENTENCES = 5
#: A sentence joins the answer when its fused score is at least this share of the best one's.
ANSWER_SHARE = 0.75
#: The rank-fusion constant of a sentence's rankings (similarity, likelihood, its passage's rank):
#: small, so that a sentence first in two of them is clearly ahead.
SENTENCE_RRF_K = 5
#: A summary's sentences: how much centrality counts against likeness to the sentences already
#: chosen (maximal marginal relevance), and how many of the corpus's most central chunks are read.
SUMMARY_DIVERSITY = 0.7
CENTRAL_CHUNKS = 8
#: How a central chunk that gave a summary sentence is named among its evidence's matched queries.
CENTRAL_LABEL = "(central to the corpus)"


def check_answer_mode(mode: object, name: str = "answer_mode") -> str:
    """``mode`` when it is one of :data:`ANSWER_MODES`, else a typed error that lists them."""
    if mode not in ANSWER_MODES:
        raise InvalidInputError(f"{name} must be one of {', '.join(ANSWER_MODES)}; got {mode!r}")
    return str(mode)


def is_embedded_default(generator: object) -> bool:
    """Whether ``generator`` is the embedded default model (SmolLM2-135M-Instruct, whatever its
    backend): the model that ships with the package, not one the user named."""
    from memorag_integrations.models import DEFAULT_LM

    return getattr(generator, "identity", None) == DEFAULT_LM


def resolve_answer_mode(mode: str, *, retrieves: bool, generator: object | None) -> str:
    """``"extractive"`` or ``"generate"`` for a task that ``retrieves`` (or not: the memory answers
    alone, which has no evidence to quote) answered by ``generator`` (None: a model the user named
    outside the core, such as a framework's chat model)."""
    mode = check_answer_mode(mode)
    if mode == "auto":
        return "extractive" if retrieves and generator is not None and is_embedded_default(generator) else "generate"
    if mode == "extractive" and not retrieves:
        raise InvalidInputError("answer_mode='extractive' quotes the evidence, and task 'qa' retrieves none (the "
                                "memory answers alone): use task 'memorag', or answer_mode='generate'")
    return mode


# -- sentences -------------------------------------------------------------------------------------
_PARAGRAPH = re.compile(r"\n[ \t]*\n|\n(?=[ \t]*(?:[-*•]|\d{1,3}[.)])[ \t])")
# A sentence ends after . ! ? (and closing quotes or brackets) before whitespace and a capital, digit,
# opening quote or bracket; after 。！？ at once.
_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*(?=\s+[\"'“‘(\[*]?[A-Z0-9])|(?<=[。！？])[”’」』）]*")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|al|mr|mrs|ms|dr|st|no|fig|approx|resp"
                           r"|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)|\b[A-Za-z])\.$", re.I)
_CLOSED = re.compile(r"[.!?。！？][\"'”’)\]」』）*]*$")
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+")


@lru_cache(maxsize=16)
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """The ``(start, end)`` of every real sentence of ``text``: prose that ends as a sentence ends
    (not a heading, a grammar rule or a line of code), trimmed of surrounding whitespace."""
    spans = []
    for para_start, para_end in _pieces(text, _PARAGRAPH, 0, len(text)):
        start = para_start
        for m in _END.finditer(text, para_start, para_end):
            if _ABBREVIATION.search(text, max(start, m.start() - 8), m.start()):
                continue
            spans.append((start, m.end()))
            start = m.end()
        spans.append((start, para_end))
    return tuple(s for s in (_trim(text, a, b) for a, b in spans) if s and _is_prose(text[s[0]:s[1]]))


def _pieces(text: str, separator: re.Pattern[str], start: int, end: int) -> list[tuple[int, int]]:
    out, at = [], start
    for m in separator.finditer(text, start, end):
        out.append((at, m.start()))
        at = m.end()
    out.append((at, end))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _is_prose(sentence: str) -> bool:
    """Five words or more, mostly letters, ending as a sentence does, at most 120 words."""
    words = _WORD.findall(sentence)
    if not 5 <= len(words) <= 120 or not _CLOSED.search(sentence):
        return False
    visible = [c for c in sentence if not c.isspace()]
    return sum(c.isalpha() for c in visible) >= 0.6 * len(visible) and not sentence.lstrip().startswith((">>>", "..."))


def display(text: str) -> str:
    """A quote as one line: its line breaks and indentation (a wrapped paragraph) as single spaces."""
    return " ".join(text.split())


# -- candidates ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A sentence of an evidence passage: its document, exact span and text, and the passage's
    number (1-based: as the evidence is numbered for the generator and in the answer)."""

    doc_id: str
    start: int
    end: int
    text: str
    evidence: int


def candidates(evidence: Sequence[Evidence], documents: Mapping[str, str]) -> list[Candidate]:
    """The real sentences of each evidence passage, each once (overlapping passages share some),
    from the passage's document when ``documents`` (doc_id -> text) holds it, so that a sentence the
    chunk boundary cut is quoted whole; from the passage alone otherwise (its span is the
    document's all the same)."""
    seen: set[tuple[str, int, int]] = set()
    out: list[Candidate] = []
    for number, ev in enumerate(evidence, 1):
        lo, hi = ev.char_span
        text = documents.get(str(ev.doc_id))
        if text is not None and text[lo:hi] == ev.text:
            spans, base = [(s, e) for s, e in _sentences_around(text, lo, hi) if lo <= (s + e) // 2 < hi], 0
        else:
            text, base = ev.text, lo
            spans = list(sentence_spans(text))
        for s, e in spans:
            key = (str(ev.doc_id), base + s, base + e)
            if key not in seen:
                seen.add(key)
                out.append(Candidate(str(ev.doc_id), base + s, base + e, text[s:e], number))
    return out


def _sentences_around(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """The sentences of ``text`` that overlap ``[lo, hi)`` (a bisection into the cached spans)."""
    from bisect import bisect_left

    spans = sentence_spans(text)
    i = bisect_left(spans, (lo - 2000, 0))
    out = []
    while i < len(spans) and spans[i][0] < hi:
        if spans[i][1] > lo:
            out.append(spans[i])
        i += 1
    return out


# -- choosing --------------------------------------------------------------------------------------
@dataclass
class Extracted:
    """An extractive answer: its text (one quote a line, each followed by its evidence number), the
    quotes, and the evidence they cite (a summary adds the central passages it quotes)."""

    text: str
    quotes: list[Quote] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


def answer_quotes(query: str, found: Sequence[Candidate], encode,
                  likelihood: Callable[[str, Sequence[str]], Sequence[float]] | None = None, *,
                  sentences: int = ANSWER_SENTENCES, share: float = ANSWER_SHARE) -> list[Quote]:
    """The ``sentences`` best answers to ``query`` among ``found``, best first, by reciprocal-rank
    fusion of their similarity to the question (``encode``: texts -> unit vectors), the rank of
    their passage (after retrieval's fusion and reranking) and, given a ``likelihood`` (a
    reranker's ``score(query, texts)``: how likely the question is after each sentence), that;
    only those scoring ``share`` of the best one, and no near-copy of one chosen before."""
    if not found:
        return []
    vectors = encode([query, *(c.text for c in found)])
    rankings = [vectors[1:] @ vectors[0], -np.array([c.evidence for c in found], dtype=np.float64)]
    if likelihood is not None:
        rankings.append(np.asarray(likelihood(query, [c.text for c in found]), dtype=np.float64))
    scores = np.sum([1.0 / (SENTENCE_RRF_K + _ranks(r)) for r in rankings], axis=0)
    order = sorted(range(len(found)), key=lambda i: -scores[i])
    best = scores[order[0]]
    chosen = _distinct([i for i in order if scores[i] >= share * best], vectors[1:], sentences)
    return [_quote(found[i], float(scores[i])) for i in chosen]


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 for the highest value, 2 for the next...; ties share the better rank."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for i in range(1, len(order)):  # ties: the same rank as the one before
        if values[order[i]] == values[order[i - 1]]:
            ranks[order[i]] = ranks[order[i - 1]]
    return ranks


def summary_quotes(found: Sequence[Candidate], encode, centroid: np.ndarray | None = None, *,
                   sentences: int = SUMMARY_SENTENCES, diversity: float = SUMMARY_DIVERSITY,
                   doc_order: Mapping[str, int] | None = None) -> list[Quote]:
    """The ``sentences`` most central of ``found`` (closest to ``centroid``, the corpus's mean
    vector; the mean of their own vectors without one), each unlike those chosen before it
    (maximal marginal relevance), in document order (``doc_order``: doc_id -> position in the
    corpus; by doc_id without it)."""
    if not found:
        return []
    vectors = encode([c.text for c in found])
    center = vectors.mean(axis=0) if centroid is None else np.asarray(centroid, dtype=np.float32)
    center = center / max(float(np.linalg.norm(center)), 1e-12)
    centrality = vectors @ center
    chosen: list[int] = []
    while len(chosen) < min(sentences, len(found)):
        likeness = (vectors @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(found))
        gain = diversity * centrality - (1 - diversity) * likeness
        gain[chosen] = -np.inf
        chosen.append(int(np.argmax(gain)))
    rank = doc_order or {}
    chosen.sort(key=lambda i: (rank.get(found[i].doc_id, len(rank)), found[i].doc_id, found[i].start))
    return [_quote(found[i], float(centrality[i])) for i in chosen]


def _distinct(order: list[int], vectors: np.ndarray, limit: int, same: float = 0.9) -> list[int]:
    """The first ``limit`` of ``order`` that are not near-copies of one chosen before them."""
    chosen: list[int] = []
    for i in order:
        if all(float(vectors[i] @ vectors[j]) < same for j in chosen):
            chosen.append(i)
        if len(chosen) == limit:
            break
    return chosen


def _quote(c: Candidate, score: float) -> Quote:
    return Quote(c.text, c.doc_id, (c.start, c.end), score, c.evidence)


def render(quotes: Sequence[Quote]) -> str:
    """The answer's text: one quote a line (as :func:`display` shows it), each followed by the
    number of the evidence passage it comes from."""
    return "\n".join(display(q.text) + (f" [{q.evidence}]" if q.evidence is not None else "") for q in quotes)


_CITED_LINE = re.compile(r"(.*?)( \[\d+\]\n?)", re.S)


def pieces(text: str) -> list[str]:
    """``text`` in the pieces a stream yields: each quote, then its citation and line break
    (joined, they are ``text``)."""
    out: list[str] = []
    for line in text.splitlines(keepends=True) or [text]:
        m = _CITED_LINE.fullmatch(line)
        out.extend(p for p in (m.groups() if m else (line,)) if p)
    return out
