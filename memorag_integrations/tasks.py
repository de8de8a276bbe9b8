"""The tasks as objects: which memory calls write the clues, which prompt answers, which model writes.

- ``memorag``: clue spans and surrogate questions (and a draft) from the memory -> retrieval ->
  the generator answers from the evidence.
- ``qa``: the memory answers alone, from what it read.
- ``summarize``: the memory's key points -> retrieval -> the generator summarizes; the query is
  optional, a focus for the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from memorag_integrations.errors import EmptyQueryError, InvalidInputError
from memorag_integrations.prompts import PromptSet, detect_language, format_evidence, get_prompts, parse_items
from memorag_integrations.schema import Clues
from memorag_integrations.documents import check_encodable

TaskName = Literal["memorag", "qa", "summarize"]
#: A memory call: the instruction and the most tokens the memory may write for it.
MemoryCall = tuple[str, int]


class Task:
    """What distinguishes one task from another; everything else is the shared pipeline."""

    name: str = ""
    #: Whether an empty query is refused (a summary needs none).
    needs_query: bool = True
    #: Whether evidence is retrieved (the clues search the index).
    retrieves: bool = True
    #: Whether the memory writes the answer (else the generator does, from the evidence).
    memory_answers: bool = False

    def check_query(self, query: object) -> str:
        """The query, stripped; a typed error if it is not text, or empty where one is needed."""
        if query is None and not self.needs_query:
            return ""
        if not isinstance(query, str):
            raise InvalidInputError(f"the query must be a string, got {type(query).__name__}")
        query = check_encodable(query, "the query").strip()
        if not query and self.needs_query:
            raise EmptyQueryError("the query is empty; ask a question (or use task='summarize')")
        return query

    def prompts(self, query: str, corpus_language: str) -> PromptSet:
        """The prompt set in the query's language, or the corpus's when there is no query."""
        return get_prompts(detect_language(query) if query else corpus_language)

    def memory_calls(self, prompts: PromptSet, query: str, *, use_draft: bool, clue_tokens: int,
                     answer_tokens: int) -> list[MemoryCall]:
        """The instructions the memory answers before retrieval."""
        return []

    def clues(self, outputs: Sequence[str], query: str) -> Clues | None:
        """The clues parsed from what the memory wrote for :meth:`memory_calls`."""
        return None

    def prompt(self, prompts: PromptSet, query: str, passages: Sequence[str]) -> str:
        """The final prompt, from the query and the retrieved passages."""
        raise NotImplementedError

    def unanswered(self, prompts: PromptSet, evidence: Sequence[object]) -> str | None:
        """The reply when the task retrieves and found no ``evidence`` (in any form): no model is
        asked to answer from nothing (it would invent an answer). None when there is evidence."""
        return prompts.nothing_found if self.retrieves and not evidence else None

    def __repr__(self) -> str:
        return f"<task {self.name}>"


class MemoRAGTask(Task):
    name = "memorag"

    def memory_calls(self, prompts: PromptSet, query: str, *, use_draft: bool, clue_tokens: int,
                     answer_tokens: int) -> list[MemoryCall]:
        calls = [(prompts.clue_spans.format(query=query), clue_tokens),
                 (prompts.surrogate_questions.format(query=query), clue_tokens)]
        if use_draft:
            calls.append((prompts.memory_answer.format(query=query), clue_tokens))
        return calls

    def clues(self, outputs: Sequence[str], query: str) -> Clues:
        draft = outputs[2] if len(outputs) > 2 else None
        return Clues(parse_items(outputs[0], exclude=query), parse_items(outputs[1], exclude=query), draft or None)

    def prompt(self, prompts: PromptSet, query: str, passages: Sequence[str]) -> str:
        return prompts.answer.format(evidence=format_evidence(list(passages), prompts), query=query)


class QATask(Task):
    name = "qa"
    retrieves = False
    memory_answers = True

    def prompt(self, prompts: PromptSet, query: str, passages: Sequence[str]) -> str:
        return prompts.memory_answer.format(query=query)


class SummarizeTask(Task):
    name = "summarize"
    needs_query = False

    def memory_calls(self, prompts: PromptSet, query: str, *, use_draft: bool, clue_tokens: int,
                     answer_tokens: int) -> list[MemoryCall]:
        return [(prompts.key_points, answer_tokens)]

    def clues(self, outputs: Sequence[str], query: str) -> Clues:
        return Clues(spans=parse_items(outputs[0]))

    def prompt(self, prompts: PromptSet, query: str, passages: Sequence[str]) -> str:
        summary = prompts.summary.format(evidence=format_evidence(list(passages), prompts))
        return f"{summary}\n\n{query}" if query else summary


TASKS: dict[str, Task] = {t.name: t for t in (MemoRAGTask(), QATask(), SummarizeTask())}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)
#: The tasks that retrieve evidence (what a retriever can be asked for).
RETRIEVAL_TASKS: tuple[str, ...] = tuple(name for name, t in TASKS.items() if t.retrieves)


def get_task(task: str | Task, *, retrieving: bool = False) -> Task:
    """The task named ``task`` (or ``task`` itself); ``retrieving`` refuses tasks that retrieve nothing."""
    if isinstance(task, Task):
        found: Task | None = task
    else:
        found = TASKS.get(task) if isinstance(task, str) else None
    names = RETRIEVAL_TASKS if retrieving else TASK_NAMES
    if found is None or found.name not in names:
        what = " for retrieval" if retrieving else ""
        raise InvalidInputError(f"unknown task {task!r}{what}; use one of {', '.join(names)}")
    return found
