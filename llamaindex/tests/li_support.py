"""Shared helpers for the LlamaIndex adapter tests (a plain module: no conftest clashes)."""

from __future__ import annotations


from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent

from fakes import HashEmbedder, ScriptedGenerator
from testdata import ROOT

__all__ = ["ROOT", "HashEmbedder", "ScriptedGenerator", "EventRecorder", "recording", "LAUNCH_TEXT", "reference_text",
           "QUESTION", "FAST"]

#: A short text for the fakes: the scripted memory's clues match its first sentences.
LAUNCH_TEXT = ("The launch happened in 1969 after years of work. The crew of three flew to the moon and back.\n\n"
               + "Weather reports filled the rest of the log, day after day, with wind and rain. " * 12)

QUESTION = "How do I leave a loop before it finishes?"
#: Small generations keep the real-model tests quick on a shared CPU.
FAST = {"k": 3, "clue_tokens": 24, "answer_tokens": 24}


def reference_text(topics=("assert", "break", "continue", "for", "while")) -> str:
    """About 1.2k tokens of the Python Language Reference (shipped with CPython): real text that
    fits the embedded model's memory window without gisting."""
    import pydoc_data.topics

    return "\n\n".join(f"{name}\n{'=' * len(name)}\n\n{pydoc_data.topics.topics[name].strip()}" for name in topics)


class EventRecorder(BaseEventHandler):
    """Keeps every instrumentation event it sees (add it to the root dispatcher)."""

    events: list = []

    @classmethod
    def class_name(cls) -> str:
        return "EventRecorder"

    def handle(self, event: BaseEvent, **kwargs) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.class_name() for e in self.events]


class recording:  # noqa: N801 - used as a context manager
    """``with recording() as (events, spans):`` everything the root dispatcher sees meanwhile."""

    def __enter__(self):
        import llama_index.core.instrumentation as instrument
        from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler

        self.root = instrument.get_dispatcher()
        self.events, self.spans = EventRecorder(), SimpleSpanHandler()
        self.root.add_event_handler(self.events)
        self.root.add_span_handler(self.spans)
        return self.events, self.spans

    def __exit__(self, *exc) -> None:
        self.root.event_handlers.remove(self.events)
        self.root.span_handlers.remove(self.spans)
