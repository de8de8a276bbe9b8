"""Text as character offsets: tokens found by a regular expression, and spans of at most N tokens.

The lowest text helpers, shared by the index's chunker (:mod:`memorag_integrations.retrieval.chunking`),
the memory's gisting (:mod:`memorag_integrations.memory.gist`) and the generators that count
tokens without a tokenizer at hand (llama.cpp's). Nothing here imports the rest of the library.
"""

from __future__ import annotations

import re
from collections.abc import Callable

OffsetsFn = Callable[[str], list[tuple[int, int]]]

_WORD = re.compile(r"\S+")
_CJK_STOPS = "。！？"
#: A token covering more characters than this (a tokenizer's [UNK] for a 5 MB line without spaces)
#: is counted as several, so that no chunk grows past ``max_tokens`` such pieces.
LONG_TOKEN_CHARS = 64


def regex_offsets(text: str) -> list[tuple[int, int]]:
    """Whitespace-separated words as tokens: a fallback when no tokenizer is at hand."""
    return [m.span() for m in _WORD.finditer(text)]


def chunk_text(text: str, offsets_fn: OffsetsFn, max_tokens: int, overlap: int = 0) -> list[tuple[int, int]]:
    """Split ``text`` into ``(start, end)`` spans of at most ``max_tokens`` tokens.

    A chunk ends at the best boundary in its second half: a blank line, else a line break, else a
    sentence end, else the token limit. Consecutive chunks share ``overlap`` tokens.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not 0 <= overlap < max_tokens:
        raise ValueError("overlap must be >= 0 and smaller than max_tokens")
    offsets = [piece for s, e in offsets_fn(text) if e > s for piece in _pieces(s, e)]
    spans: list[tuple[int, int]] = []
    i, n = 0, len(offsets)
    while i < n:
        j = min(i + max_tokens, n)
        if j < n:
            j = _best_cut(text, offsets, i + max(1, max_tokens // 2), j)
        spans.append((offsets[i][0], offsets[j - 1][1]))
        if j >= n:
            break
        i = max(j - overlap, i + 1)
    return spans


def _pieces(start: int, end: int) -> list[tuple[int, int]]:
    if end - start <= LONG_TOKEN_CHARS:
        return [(start, end)]
    return [(s, min(s + LONG_TOKEN_CHARS, end)) for s in range(start, end, LONG_TOKEN_CHARS)]


def _best_cut(text: str, offsets: list[tuple[int, int]], lo: int, hi: int) -> int:
    """The token index in ``(lo, hi]`` to cut before, preferring the strongest boundary."""
    best: dict[int, int] = {}
    for k in range(hi, lo, -1):
        end = offsets[k - 1][1]
        gap = text[end:offsets[k][0]]
        last = text[end - 1]
        if "\n\n" in gap:
            rank = 3
        elif "\n" in gap:
            rank = 2
        elif last in _CJK_STOPS or (last in ".!?" and gap):
            rank = 1
        else:
            rank = 0
        if rank and rank not in best:
            best[rank] = k
            if rank == 3:
                break
    for rank in (3, 2, 1):
        if rank in best:
            return best[rank]
    return hi
