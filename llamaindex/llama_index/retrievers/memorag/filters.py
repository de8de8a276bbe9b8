"""LlamaIndex ``MetadataFilters`` in the core's filter form, to choose the memory's part."""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from memorag_integrations.errors import InvalidInputError

# LlamaIndex operator -> the core's (memorag_integrations.filters.OPERATORS).
_OPERATORS = {"==": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte", "in": "$in",
              "nin": "$nin", "contains": "$contains"}


def metadata_where(filters: MetadataFilters) -> dict[str, Any]:
    """``filters`` as a core metadata filter (``{"$and": [...]}`` and the like). An operator the core
    cannot evaluate on a document's metadata is refused with the ones it can."""
    terms: list[dict[str, Any]] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            terms.append(metadata_where(item))
            continue
        assert isinstance(item, MetadataFilter)
        operator = getattr(item.operator, "value", item.operator)
        if operator not in _OPERATORS:
            raise InvalidInputError(f"the memory cannot choose documents by the filter operator {operator!r}; use "
                                    f"{', '.join(_OPERATORS)}")
        terms.append({item.key: {_OPERATORS[operator]: item.value}})
    condition = getattr(filters.condition, "value", filters.condition) or "and"
    if condition == "and":
        return {"$and": terms}
    if condition == "or":
        return {"$or": terms}
    if condition == "not":  # as LlamaIndex's own stores read it: none of the filters holds
        return {"$not": {"$or": terms}}
    raise InvalidInputError(f"unknown filter condition {condition!r}; use and, or, not")
