"""Token-aware chunking that keeps exact character offsets into the source text."""

from __future__ import annotations

import re
from collections.abc import Callable

OffsetsFn = Callable[[str], list[tuple[int, int]]]

_WORD = re.compile(r"\S+")
_CJK_STOPS = "。！？"


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
    offsets = [(s, e) for s, e in offsets_fn(text) if e > s]
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
