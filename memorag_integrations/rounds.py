"""Memory-led rounds of retrieval: the memory reads what a search found and names what the
question still needs (the bridge entity, the second outlet's report), and that is searched next.

A round is one memory call and one more ranking, with the memory's answer added to the clues; the
memory stops the rounds by answering NONE. Measured as an ablation (``python -m benchmarks.run
multihoprag --methods memorag memorag_rounds``, benchmarks/README.md "Memory-led rounds").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from memorag_integrations.prompts import PromptSet, format_evidence, parse_items
from memorag_integrations.schema import Clues

#: Found passages the memory reads in a round: the best ones, each cut to its sentences nearest the question.
ROUND_PASSAGES = 5
_NONE = re.compile(r"^\W*none\b", re.I)
# NONE said in words ("The question does not require any additional passages", "Nothing is
# missing"): the embedded model writes this in place of NONE, and it searches for nothing.
_NOTHING_MISSING = re.compile(r"(?:\bnot|n't|\bno|\bnothing)\b(?:\W+\w+){0,3}?\W+(?:need|require|additional|further"
                              r"|missing|more)", re.I)
_LABEL = re.compile(r"^\W*(?:search(?:\s+query)?|query)\s*[:：]\s*", re.I)


def missing_instruction(query: str, passages: Sequence[str], prompts: PromptSet) -> str:
    """The memory's instruction for a round: ``query`` and the ``passages`` found so far."""
    return prompts.missing.format(query=query, evidence=format_evidence(list(passages), prompts))


def parse_missing(output: str, query: str) -> str | None:
    """The search the memory wrote for a round, or None where it says nothing is missing (NONE)
    or in words, or wrote no usable search (filler, or the question echoed back)."""
    if _NONE.match(output.strip()) or _NOTHING_MISSING.search(output):
        return None
    items = parse_items(_LABEL.sub("", output.strip()), exclude=query, max_items=1)
    return items[0] if items else None


def with_missing(clues: Clues | None, missing: str) -> Clues:
    """``clues`` with a round's search added as one more clue span."""
    clues = clues or Clues()
    return Clues([*clues.spans, missing], list(clues.surrogate_questions), clues.draft)
