"""A LlamaIndex instrumentation event carrying what the memory wrote for a query."""

from __future__ import annotations


from llama_index.core.instrumentation.events.base import BaseEvent

from memorag_integrations.schema import Clues


class MemoRAGCluesEvent(BaseEvent):
    """Emitted once per query, before retrieval: the clue spans, surrogate questions and draft.

    It propagates to the root dispatcher, so any handler added with
    ``llama_index.core.instrumentation.get_dispatcher().add_event_handler(...)`` sees it.
    """

    query: str
    spans: list[str]
    surrogate_questions: list[str]
    draft: str | None = None

    @classmethod
    def class_name(cls) -> str:
        return "MemoRAGCluesEvent"

    @classmethod
    def from_clues(cls, query: str, clues: Clues) -> MemoRAGCluesEvent:
        return cls(query=query, spans=list(clues.spans), surrogate_questions=list(clues.surrogate_questions),
                   draft=clues.draft)
