"""Which documents a query may use: by id and by metadata, for retrieval and for the memory's clues.

A filter narrows both halves of the pipeline: the searches only return chunks of the chosen
documents, and the memory's clues come from those documents' part of the memory
(:meth:`~memorag_integrations.memory.base.Memory.part`), so a clue cannot point elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.schema import Document

#: A metadata filter: ``{key: value}`` (equal), ``{key: [v1, v2]}`` (any of them), ``{key: {"$gte": 3}}``
#: (the operators of :data:`OPERATORS`), ``{"$and" | "$or": [filter, ...]}``, ``{"$not": filter}``;
#: every key of a dict must match. Or a function of the document that says whether it is in.
Where = Mapping[str, Any] | Callable[[Document], bool]
_ANY_OF = (list, tuple, set, frozenset)
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda v, w: bool(v == w), "$ne": lambda v, w: bool(v != w),
    "$gt": lambda v, w: bool(v > w), "$gte": lambda v, w: bool(v >= w),
    "$lt": lambda v, w: bool(v < w), "$lte": lambda v, w: bool(v <= w),
    "$in": lambda v, w: v in w, "$nin": lambda v, w: v not in w,
    "$contains": lambda v, w: isinstance(v, (str, list, tuple)) and w in v,
}
_LOGIC = ("$and", "$or", "$not")


@dataclass(frozen=True)
class DocumentFilter:
    """Documents by ``doc_ids`` and/or by metadata (``where``); a document must pass both."""

    doc_ids: frozenset[str] | None = None
    where: Where | None = None

    @classmethod
    def of(cls, doc_ids: str | Iterable[str] | None = None, where: Where | None = None) -> DocumentFilter | None:
        """The filter of a call's ``doc_ids`` and ``where`` arguments, checked; None when both are None."""
        if doc_ids is None and where is None:
            return None
        ids: frozenset[str] | None = None
        if doc_ids is not None:
            items = [doc_ids] if isinstance(doc_ids, str) else doc_ids
            if isinstance(items, (bytes, Mapping)) or not isinstance(items, Iterable):
                raise InvalidInputError(f"doc_ids must be a document id or a list of them, got "
                                        f"{type(doc_ids).__name__}")
            items = list(items)
            wrong = [i for i in items if not isinstance(i, str)]
            if wrong:
                raise InvalidInputError(f"doc_ids must be strings, got {wrong!r}")
            ids = frozenset(items)
        if where is not None and not callable(where):
            if not isinstance(where, Mapping) or not all(isinstance(k, str) for k in where):
                raise InvalidInputError("where must be a dict of metadata keys to values (a list of values "
                                        f"means any of them) or a function of a Document, got {type(where).__name__}")
            check_where(where)
        return cls(ids, where)

    def matches(self, document: Document) -> bool:
        if self.doc_ids is not None and document.doc_id not in self.doc_ids:
            return False
        if self.where is None:
            return True
        if callable(self.where):
            return bool(self.where(document))
        return metadata_matches(document.metadata, self.where)

    def select(self, documents: Sequence[Document]) -> list[Document]:
        """The documents that pass, in corpus order. Ids that name no document are refused (a typo
        would otherwise read as "nothing found"); a metadata filter may match none."""
        if self.doc_ids is not None:
            unknown = self.doc_ids - {d.doc_id for d in documents}
            if unknown:
                raise InvalidInputError(f"no memorized document has the doc_id(s) {sorted(unknown)}; "
                                        "engine.documents lists them")
        return [d for d in documents if self.matches(d)]


def metadata_matches(metadata: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` passes the dict filter ``where`` (see :data:`Where`)."""
    return all(_term(metadata, key, wanted) for key, wanted in where.items())


def check_where(where: Mapping[str, Any]) -> None:
    """Refuse a dict filter this module cannot evaluate (an unknown ``$`` operator, a logic
    operator without filters), before any document is read."""
    for key, wanted in where.items():
        if key in ("$and", "$or"):
            if not isinstance(wanted, (list, tuple)) or not all(isinstance(w, Mapping) for w in wanted):
                raise InvalidInputError(f"{key} takes a list of filters, got {wanted!r}")
            for w in wanted:
                check_where(w)
        elif key == "$not":
            if not isinstance(wanted, Mapping):
                raise InvalidInputError(f"$not takes a filter, got {wanted!r}")
            check_where(wanted)
        elif key.startswith("$"):
            raise InvalidInputError(f"unknown filter operator {key!r} at the top level; use a metadata key, "
                                    f"or one of {', '.join(_LOGIC)}")
        elif isinstance(wanted, Mapping):
            unknown = [op for op in wanted if op not in OPERATORS]
            if unknown or not wanted:
                raise InvalidInputError(f"the filter of {key!r} has unknown operator(s) {unknown or '{}'}; use "
                                        f"{', '.join(OPERATORS)}")


def _term(metadata: Mapping[str, Any], key: str, wanted: Any) -> bool:
    if key == "$and":
        return all(metadata_matches(metadata, w) for w in wanted)
    if key == "$or":
        return any(metadata_matches(metadata, w) for w in wanted)
    if key == "$not":
        return not metadata_matches(metadata, wanted)
    if key not in metadata:
        return isinstance(wanted, Mapping) and set(wanted) <= {"$ne", "$nin"}  # absent is "not equal"
    value = metadata[key]
    try:
        if isinstance(wanted, Mapping):
            return all(OPERATORS[op](value, w) for op, w in wanted.items())
        if isinstance(wanted, _ANY_OF):
            return value in wanted
        return bool(value == wanted)
    except TypeError:  # a comparison across types (a string against a number) does not match
        return False
