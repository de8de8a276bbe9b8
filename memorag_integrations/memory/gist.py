"""Compression of a corpus that does not fit the memory window: a gist per chunk, recursively."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


from memorag_integrations.defaults import GIST_CHUNK_TOKENS, GIST_TOKENS
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.extractive import is_embedded_default
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.memory.extract import extract_gist
from memorag_integrations.models import cache_dir
from memorag_integrations.progress import Bar, Progress
from memorag_integrations.prompts import PromptSet
from memorag_integrations.schema import Document
from memorag_integrations.text import chunk_text, regex_offsets

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gist:
    """The condensed form of ``text[start:end]`` of one document, written at a compression ``level``
    (1: from the text; 2 and up: from a group of lower gists). A gist of several short documents
    read together has no ``doc_id``; ``doc_ids`` names them."""

    doc_id: str | None
    start: int
    end: int
    level: int
    gist: str
    doc_ids: tuple[str, ...] = ()

    def covers(self, doc_ids: set[str | None]) -> bool:
        """Whether this gist condenses text of any of ``doc_ids``."""
        return self.doc_id in doc_ids if self.doc_id is not None else bool(doc_ids.intersection(self.doc_ids))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["doc_ids"] = list(self.doc_ids)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gist:
        return cls(data["doc_id"], int(data["start"]), int(data["end"]), int(data["level"]), str(data["gist"]),
                   tuple(str(d) for d in data.get("doc_ids", ())))


@dataclass
class _Section:
    """A span (of the text, or a group of gists) waiting to be gisted; ``members`` are the
    documents of a section that packs several short ones (its ``doc_id`` is then None)."""

    doc_id: str | None
    start: int
    end: int
    text: str
    tokens: int = 0
    members: list[str] = field(default_factory=list)

    def pack(self, doc_id: str | None, text: str, tokens: int) -> None:
        """Add a short document after this section's text, each under its header."""
        if self.doc_id is not None or not self.members:  # one document so far: give it its header
            self.text, self.members = f"### {self.doc_id}\n{self.text}", [str(self.doc_id)]
            self.doc_id, self.start, self.end = None, 0, 0
        self.text += f"\n\n### {doc_id}\n{text}"
        self.members.append(str(doc_id))
        self.tokens += tokens


class GistCache:
    """Gists on disk (JSON, one file per chunk), keyed by model, prompt and chunk text."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir() / "gists"

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))["gist"]
        except (OSError, ValueError, KeyError):
            return None

    def put(self, key: str, gist: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"gist": gist}, fh, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache only costs speed
            logger.warning("could not cache a gist in %s: %s", self.folder, exc)


#: How sections become gists: ``generate`` (the model writes each) or ``extract`` (each section's
#: most representative sentences, no model: see memorag_integrations.memory.extract).
GISTING = ("generate", "extract")


def resolve_gisting(gisting: str, generator: TextGenerator) -> str:
    """``gisting`` as one of :data:`GISTING`; ``auto`` extracts for the embedded model (whose
    written gists added nothing the benchmarks could measure, at seconds a section) and generates
    for a model the user named."""
    if gisting == "auto":
        return "extract" if is_embedded_default(generator) else "generate"
    if gisting not in GISTING:
        raise InvalidInputError(f"gisting must be auto, {' or '.join(GISTING)}; got {gisting!r}")
    return gisting


@dataclass
class Compressor:
    """Fits a corpus into ``budget`` tokens of the generator: verbatim if it fits, else gists
    (written by the model, or extracted: ``gisting``)."""

    generator: TextGenerator
    chunk_tokens: int = GIST_CHUNK_TOKENS
    gist_tokens: int = GIST_TOKENS
    batch_size: int = 4
    max_levels: int = 3
    cache: GistCache | None = None
    gisting: str = "generate"

    def build_context(self, documents: Sequence[Document], prompts: PromptSet, budget: int,
                      *, progress: Progress = True) -> tuple[str, list[Gist]]:
        """Return ``(context, gists)``; ``gists`` is empty when the corpus fits as it is."""
        verbatim = join_sections([(d.doc_id, d.text) for d in documents])
        if self.generator.count_tokens(verbatim) <= budget:
            return verbatim, []
        gists = self._gist_all(self._sections(documents), prompts, progress, level=1)
        for level in range(2, self.max_levels + 1):
            context = join_sections([(g.doc_id, g.gist) for g in gists])
            n_tokens = self.generator.count_tokens(context)
            if n_tokens <= budget or len(gists) == 1:
                break
            # Merge only as much as needed: about budget/gist_tokens groups, so the next level's
            # gists fill the budget instead of collapsing the corpus into a handful of lines. The
            # groups' size is a power of two, so it stays put while a corpus grows or shrinks a little.
            groups = max(1, budget // (self.gist_tokens + 8))
            every = max(2, 1 << math.ceil(math.log2(max(1.0, len(gists) / groups))))
            gists = self._gist_all(self._regroup(gists, every), prompts, progress, level)
        context = join_sections([(g.doc_id, g.gist) for g in gists])
        n_tokens = self.generator.count_tokens(context)
        if n_tokens > budget:
            logger.warning("gists take %d tokens, over the memory budget of %d: the end is cut", n_tokens, budget)
            context = truncate(context, self.generator, budget)
        return context, gists

    def _sections(self, documents: Sequence[Document]) -> list[_Section]:
        """Spans of at most ``chunk_tokens`` to gist: a long document is cut into several, and
        consecutive short ones are packed into one, so a corpus of many small documents costs about
        one gist per ``chunk_tokens`` as one long document does (not one or more per document)."""
        sections: list[_Section] = []
        open_pack = False  # whether the last section may take the next short document
        for doc in documents:
            tokens = self.generator.count_tokens(doc.text)
            last = sections[-1] if sections else None
            if (open_pack and last is not None and tokens < self.chunk_tokens
                    and last.tokens + tokens + 8 <= self.chunk_tokens):  # +8: the headers
                last.pack(doc.doc_id, doc.text, tokens + 8)
            else:
                spans = chunk_text(doc.text, self._offsets, self.chunk_tokens, overlap=0)
                sections.extend(_Section(doc.doc_id, start, end, doc.text[start:end],
                                         tokens if len(spans) == 1 else self.chunk_tokens) for start, end in spans)
                open_pack = len(spans) == 1 and tokens < self.chunk_tokens
            if _ends_pack(doc.doc_id):
                open_pack = False
        return sections

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        offsets = getattr(self.generator, "token_offsets", None)
        if offsets is not None:
            return offsets(text)
        return regex_offsets(text)

    def _regroup(self, gists: list[Gist], every: int) -> list[_Section]:
        """Consecutive gists of one document (or of packed ones) in groups of about ``every``: a
        group ends after a gist whose text hashes to a multiple of ``every`` (or when it is full),
        so a changed gist changes only its own group and the ones it joins (their gists stay cached)."""
        groups: list[_Section] = []
        open_group = False
        for g in gists:
            size = self.generator.count_tokens(g.gist)
            last = groups[-1] if groups else None
            if (open_group and last is not None and last.doc_id == g.doc_id
                    and last.tokens + size <= self.chunk_tokens):
                last.text += "\n" + g.gist
                last.end = g.end
                last.tokens += size
                last.members.extend(d for d in g.doc_ids if d not in last.members)
            else:
                groups.append(_Section(g.doc_id, g.start, g.end, g.gist, size, list(g.doc_ids)))
            open_group = _stable_hash(g.gist) % every != 0
        return groups

    def _gist_all(self, sections: list[_Section], prompts: PromptSet, progress: Progress, level: int) -> list[Gist]:
        if self.gisting == "extract":
            logger.info("extracting %d gists (level %d)", len(sections), level)
            return [Gist(s.doc_id, s.start, s.end, level, extract_gist(s.text, self.gist_tokens,
                                                                        self.generator.count_tokens), tuple(s.members))
                    for s in sections]
        cache = self.cache if self.cache is not None else GistCache()
        keys = [self._key(s.text, prompts) for s in sections]
        results = [cache.get(k) for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        logger.info("gisting %d sections (level %d), %d from cache", len(sections), level, len(sections) - len(todo))
        bar = Bar(progress, f"gisting (level {level})", len(todo), unit="chunk")
        for i in range(0, len(todo), self.batch_size):
            batch = todo[i:i + self.batch_size]
            outputs = self.generator.generate_batch(
                [prompts.gist.format(text=sections[j].text) for j in batch], self.gist_tokens
            )
            for j, out in zip(batch, outputs):
                gist = out.strip() or sections[j].text[:200]
                cache.put(keys[j], gist)
                results[j] = gist
            bar.update(len(batch))
        bar.close()
        return [Gist(s.doc_id, s.start, s.end, level, str(r), tuple(s.members)) for s, r in zip(sections, results)]

    def _key(self, text: str, prompts: PromptSet) -> str:
        ident = f"{self.generator.identity}|{prompts.gist}|{prompts.language}|{self.gist_tokens}|{text}"
        return hashlib.sha256(ident.encode("utf-8")).hexdigest()


#: About one short document in this many closes the section it is packed in, whatever its size:
#: the cuts depend on the documents themselves, not on all the text before them, so adding,
#: changing or deleting a document changes only the sections around it (the others keep their
#: cached gists).
PACK_EVERY = 16


def _ends_pack(doc_id: str | None) -> bool:
    return _stable_hash(str(doc_id)) % PACK_EVERY == 0


def _stable_hash(text: str) -> int:
    """The same number for the same text in every process (Python's own hash is salted)."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def join_sections(sections: list[tuple[str | None, str]]) -> str:
    """One text from ``(doc_id, text)`` pairs; a header marks where each document starts."""
    if len({doc_id for doc_id, _ in sections}) <= 1:
        return "\n\n".join(text.strip() for _, text in sections)
    parts: list[str] = []
    current: object = object()
    for doc_id, text in sections:
        if doc_id != current and doc_id is not None:  # None: gists of packed documents, headed inside
            parts.append(f"### {doc_id}")
        current = doc_id
        parts.append(text.strip())
    return "\n\n".join(parts)


def truncate(text: str, generator: TextGenerator, budget: int) -> str:
    """The longest prefix of ``text`` within ``budget`` tokens of ``generator``."""
    if generator.count_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix within the budget
        mid = (lo + hi + 1) // 2
        if generator.count_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]
