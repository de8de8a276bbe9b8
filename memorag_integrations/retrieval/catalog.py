"""The corpus's catalog: what the memory knows of each document besides its text (its outlet,
title, day), and the scoped searches a question that names them asks for.

A multi-hop question over a news corpus names its sources ("as reported by both The Verge and
TechCrunch", "in Business World on October 8, 2023"). A question embedded whole finds the outlet
whose article is nearest and misses the other. The catalog reads the names the corpus's metadata
holds in the question and plans one search per named source, over that source's documents only
(and that day's, when the question dates it), with the part of the question that speaks of it.
Nothing here knows of any outlet: every name comes from the documents' own metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from memorag_integrations.schema import Document

#: Metadata keys whose values name a document's source, and the one that dates it (ISO day first).
SOURCE_KEYS = ("source", "publisher", "outlet", "site")
DATE_KEYS = ("published_at", "date", "published")
_MONTHS = ("january february march april may june july august september october november december").split()
_DATE = re.compile(r"\b(" + "|".join(m.capitalize() for m in _MONTHS) + r")\s+(\d{1,2}),?\s+(\d{4})\b")
#: Shorter names than this are not looked for: they occur as words by chance.
MIN_NAME_CHARS = 4
#: Words of a named source's clause below which the whole question is searched instead.
MIN_CLAUSE_WORDS = 6


@dataclass(frozen=True)
class Scope:
    """One scoped search: ``query`` over the documents ``doc_ids`` only; ``label`` says which."""

    label: str
    query: str
    doc_ids: frozenset[str]


class Catalog:
    """Each document's source and day, from its metadata, and the names that refer to a source."""

    def __init__(self, documents: Iterable[Document]) -> None:
        self.sources: dict[str, set[str]] = {}  # source -> doc_ids
        self.days: dict[str, str] = {}  # doc_id -> ISO day
        for d in documents:
            source, day = _first(d.metadata, SOURCE_KEYS), _first(d.metadata, DATE_KEYS)
            if source and d.doc_id is not None:
                self.sources.setdefault(source, set()).add(str(d.doc_id))
            if day and d.doc_id is not None:
                self.days[str(d.doc_id)] = day[:10]
        self._names = sorted(((name, source) for source in self.sources for name in names_of(source)),
                             key=lambda pair: -len(pair[0]))

    def __bool__(self) -> bool:
        return len(self.sources) > 1  # one source scopes nothing

    def mentions(self, question: str) -> list[tuple[int, int, str]]:
        """Where the question names a source: ``(start, end, source)``, in order, none overlapping
        (the longest name wins: "Cnbc | World Business News Leader" over "Cnbc")."""
        found: list[tuple[int, int, str]] = []
        lowered = question.lower()
        for name, source in self._names:
            for m in re.finditer(r"(?<!\w)" + re.escape(name.lower()) + r"(?!\w)", lowered):
                if all(m.end() <= s or m.start() >= e for s, e, _ in found):
                    found.append((m.start(), m.end(), source))
        return sorted(found)

    def scopes(self, question: str) -> list[Scope]:
        """One search per source the question names (a source named twice, on two days, twice):
        the clause from its name to the next source's, over its documents, narrowed to the day
        the clause gives when the source published that day."""
        if not self:
            return []
        found = self.mentions(question)
        out: dict[tuple[str, str | None], Scope] = {}
        for i, (start, _end, source) in enumerate(found):
            stop = found[i + 1][0] if i + 1 < len(found) else len(question)
            clause = question[start:stop].strip(" ,;:'\"")
            day = _day(clause)
            docs = self.sources[source]
            dated = {d for d in docs if day is not None and self.days.get(d) == day}
            key = (source, day if dated else None)
            if key in out:
                continue
            text = clause if len(clause.split()) >= MIN_CLAUSE_WORDS else question
            label = source if not dated else f"{source}, {day}"
            out[key] = Scope(label, text, frozenset(dated or docs))
        return list(out.values())


def names_of(source: str) -> list[str]:
    """The names a question may use for ``source``: itself, and its part before a " | " or " - "
    subtitle ("Cnbc | World Business News Leader" is also "Cnbc")."""
    names = {source.strip()}
    head = re.split(r"\s+[|\-–]\s+", source.strip())[0]
    names.add(head)
    return [n for n in names if len(n) >= MIN_NAME_CHARS]


def plan_scopes(catalog: Catalog | None, question: str) -> Sequence[Scope]:
    """The scoped searches for ``question``; none without a catalog."""
    return catalog.scopes(question) if catalog else ()


def _first(metadata: Mapping[str, object], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, date):
            return value.isoformat()
    return None


def _day(text: str) -> str | None:
    """The first "Month D, YYYY" in ``text`` as an ISO day."""
    m = _DATE.search(text)
    if m is None:
        return None
    month = _MONTHS.index(m.group(1).lower()) + 1
    try:
        return date(int(m.group(3)), month, int(m.group(2))).isoformat()
    except ValueError:
        return None
