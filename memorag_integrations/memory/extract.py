"""Gists without a model: a section's most representative sentences, quoted.

Reading a section with the model costs seconds per 1.5k tokens on a CPU; picking its sentences
costs milliseconds. A sentence is representative when its content words are frequent in the
section (the section's main words); once one is taken its words count less, so the next one
adds what the first did not say. The picked sentences keep their order in the section.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from memorag_integrations.extractive import display, sentence_spans
from memorag_integrations.retrieval.grounding import content_words

_WORD = re.compile(r"[^\W_]+")


def extract_gist(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """Sentences of ``text`` that cover its main words, in their order, within ``max_tokens``
    tokens (by ``count_tokens``). Text without a prose sentence (code, tables, lists) gives its
    opening instead, cut to the budget."""
    spans = sentence_spans(text)
    if not spans:
        return _opening(text, max_tokens, count_tokens)
    sentences = [display(text[a:b]) for a, b in spans]
    words = [[w for w in _WORD.findall(s.lower()) if w in content_words(s)] for s in sentences]
    counts = Counter(w for ws in words for w in ws)
    total = sum(counts.values()) or 1
    weight = {w: c / total for w, c in counts.items()}
    chosen: list[int] = []
    used = 0
    left = set(range(len(sentences)))
    while left:
        best = max(left, key=lambda i: (sum(weight[w] for w in words[i]) / max(1, len(words[i])), -i))
        left.discard(best)
        cost = count_tokens(sentences[best]) + 1
        if used + cost > max_tokens:
            continue  # a shorter sentence may still fit
        chosen.append(best)
        used += cost
        for w in set(words[best]):  # said once: the next pick should say something else
            weight[w] **= 2
    if not chosen:
        return _opening(sentences[0], max_tokens, count_tokens)
    return " ".join(sentences[i] for i in sorted(chosen))


def _opening(text: str, max_tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The longest opening of ``text`` (whitespace folded) within ``max_tokens`` tokens, cut after a word."""
    words = text.split()
    lo, hi = 0, min(len(words), max_tokens)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(" ".join(words[:mid])) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])
