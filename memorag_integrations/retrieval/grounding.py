"""Is a clue grounded in the corpus? The share of its content words found in the text it retrieved.

A small memory model often writes clues that no passage supports: invented facts, chat filler
("Please ask your next question."), questions about nothing ("What is the answer to this
question?"). Searching them only adds noise. A clue whose best hit holds few of its content words
(names, numbers, nouns: the words that are not function words) was not read from that text.
"""

from __future__ import annotations

import re

# Function words and the chat words a small model pads its lists with: what a clue may contain
# without them saying anything about the corpus.
_STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most my
myself no nor not now of off on once only or other our ours ourselves out over own same she should so
some such than that the their theirs them themselves then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves
answer answers question questions passage passages text original reads read quote following given
statement statements please ask next ready help sure certainly here's let know like may might must
one two many much thing things something anything information details detail specific particular
的 了 是 在 和 于 与 及 或 这 那 个 有 也 就 都 而 之 其 吗 呢 什 么 问 题 答 案
""".split())
# Runs of letters or digits, or single CJK characters (as the prompts module counts tokens).
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+")


def content_words(text: str) -> set[str]:
    """The lower-cased words of ``text`` that are not function or filler words."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def support(clue: str, evidence: str, *, exclude: str = "") -> float:
    """The share of ``clue``'s content words (less those of ``exclude``, e.g. the query it echoes)
    that occur in ``evidence``; 0.0 when the clue has none left."""
    words = content_words(clue) - content_words(exclude)
    if not words:
        return 0.0
    found = set(_WORD.findall(evidence.lower()))
    return len(words & found) / len(words)
