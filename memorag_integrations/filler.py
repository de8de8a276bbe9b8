"""Filler in what the memory writes: lines that carry none of the text's content.

A small memory model asked for clue spans, surrogate questions or key points often writes lines
that are about the task rather than the text: its own instructions echoed back ("One question per
line."), talk to the user or about the text ("What does that mean?", "The original text ...", "So,
the answer is yes, ..."), or a phrase cut off where the token limit stopped it ("In what year was
the"). Searched, such a line fetches noise; shown, it reads as nonsense. :func:`filler_reason` says
why a line is filler, and :func:`~memorag_integrations.prompts.parse_items` drops those lines before
they become clues. The patterns come from the outputs the benchmarks saved
(``tests/unit/data/filler_examples.json`` holds real ones).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

#: The kinds of filler, as :func:`filler_reason` names them.
ECHO, TALK, CUT = "echoes the instructions", "talks about the task, not the text", "is cut off mid-phrase"

_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+")
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
#: The instructions the memory is given, in every language, that a line must not echo. The prompt
#: sets add theirs when :mod:`memorag_integrations.prompts` is imported (which importing any module of
#: the package does), so that this module, below the prompts, imports nothing of the library's.
_INSTRUCTION_TEXTS: list[str] = []

# Openings of a line in which the model talks about the task, itself, the user or "the text"
# instead of giving the text's content (matched case-insensitively at the start, after labels).
_TALK_START = re.compile(r"""^(?:
    (?:so|yes|no|well|ok(?:ay)?|sure|certainly|of\ course|great|alright)\b[\s,.!:]*
        (?:here|the|my|your|i\b|you\b|this|that)
  | (?:so,?\s+|thus,?\s+|therefore,?\s+)?(?:the|my|your|our)\s+(?:correct\s+|final\s+|short\s+)?answers?\b
  | (?:in\ )?(?:(?:the|this)\ )?original\ (?:text|passage|question|document|paragraph|sentence)s?\b
  | (?:from|in|according\ to|based\ on)\ (?:the\ )?(?:original|given|provided|above|following)\b
  | based\ on\ (?:the|this|that|these|my|your)
        \ (?:information|text|passage|context|contract|document|article|details?)\b
  | added\ to\ the\b
  | (?:explanation|note|premise|hypothesis|output|input|response|solution|reasoning|step\ \d+)\s*[:：]
  | what\ an?\ (?:\w+\ )?(?:question|request|task)\b
  | here\ (?:is|are|'s)\b
  | (?:i|i'm|i'll|i'd|i've|let\ me|let's)\b
  | to\ (?:answer|get\ started|summari[sz]e|rephrase|rewrite)\b
  | this\ (?:question|answer|passage|text|task)
        \ (?:asks|is|may|requires|needs|can|could|would|seems|provides|mentions|contains)\b
  | (?:please|can\ you|could\ you|would\ you)\b
  | you(?:'re|'ve|'ll|'d)?\ (?:mentioned|asked|provided|right|already|could\ ask
        |(?:would\ |could\ |will\ |might\ |may\ )?need\ to\ (?:look|find|check|search|read|review|know))\b
  | (?:is|does)\ (?:this|that|it)\ (?:answer|help|correct|right|complete|make\ sense)\b
  | is\ there\ anything\ else\b
  | which\ (?:one\ )?of\ (?:these|the)\ (?:\w+\ )?(?:questions|options|answers)\b
  | (?:how|why)\ does\ the\ answer\b
  | what\ is\ the\ answer\ to\b
)""", re.I | re.X)

# Anywhere in a line: talk addressed to the user, or about answering.
_TALK_ANYWHERE = re.compile(r"""(?:
    let\ me\ know | your\ (?:next\ )?question | hope\ (?:this|that|it)\ helps
  | the\ answer\ to\ (?:this|your|the)\ question | you\ (?:asked|provided|mentioned)
  | (?:this|the)\ question\ (?:asks|requires|may\ be\ vague) | \bthe\ answer\ (?:is|would\ be|should\ be)\b
  | \b(?:ask|tell|give|show)\ me\b | \bneed\ help\b | \banswer\ (?:these|this|the|your|my)\ questions?\b
  | \bI(?:'ll|\ will)\ (?:give|show|tell|explain|help|answer)\b
)""", re.I | re.X)

# Words that name the exchange rather than anything in a text: a line of only these (and of
# function words) says nothing ("What does that mean?", "Is this answer complete?").
_META_WORDS = frozenset("""
    answer answers answered answering question questions ask asked text texts passage passages original
    mean means meant meaning line lines example examples information context summary help helps sure
    specific specifically look looking something detail details sentence sentences quote quotes
    correct complete right please thanks thank next single multiple choice none
""".split())
_FUNCTION_WORDS = frozenset("""
    a an the of in on at to for with by from about into onto as than like between through during over under
    after before via per upon within without toward towards among and or but nor so if whether that which who
    whom whose what when where why how this these those it its it's they them their there here is are was were
    be been being has have had do does did will would shall should can could may might must not no yes i you
    we he she me my your our his her us any some each every all also just then too very there's what's
""".split())
# A line whose last word is one of these, with no closing punctuation, stops mid-phrase.
_DANGLING = frozenset("""
    a an the of in on at to for with by from about into onto as than like between through during over under
    after before via per upon within without toward towards among and or but nor which whose my your our his
    her their its is are was were be been being has have had do does did will would shall should can could
    may might must
""".split())
# "One specific question:", "Two questions:", "Alternative query:" before the item itself.
_LEAD_IN = re.compile(r"^(?:(?:one|two|three|four|five|another|a|an|the|first|second|third|next|more|other|specific|"
                      r"single|alternative|example|possible|related|follow-up)\s+)+(?:questions?|answers?|quer(?:y|ies)|"
                      r"clues?)\s*[:：]\s*", re.I)
# A label, a colon, and a quotation (its closing mark may be gone: parsing strips an item's end quotes).
_LABELLED_QUOTE = re.compile(r"(?P<label>[^\"“”:：]{1,40})[:：]\s*[\"“](?P<quote>[^\"“”]+)[\"”]?\s*")
_ANSWER_LABEL = re.compile(r"\banswers?\b|^\s*(?:so|yes|no)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?。！？][\"'”’)\]]*(?=\s)")
_CLOSERS = tuple(".?!。？！…\"'”’)]}»」』》")
_PAIRS = (("(", ")"), ("[", "]"), ("{", "}"), ("“", "”"), ("«", "»"), ("「", "」"), ("『", "』"), ("《", "》"))


def filler_reason(item: str) -> str | None:
    """Why ``item`` (one parsed line the memory wrote) carries none of the text's content: it
    :data:`ECHO` es the memory's instructions, is :data:`TALK` about the task, or is :data:`CUT`
    off mid-phrase. None for a line worth searching and showing."""
    text = _LEAD_IN.sub("", " ".join(item.split()))
    words = _words(text)
    if not words:
        return None
    if _echoes_instructions(words):
        return ECHO
    if _TALK_START.match(text) or _TALK_ANYWHERE.search(text) or _only_meta(words):
        return TALK
    if _cut_off(text):
        return CUT
    return None


def clean(item: str) -> str | None:
    """``item`` as a clue: without a lead-in that only announces it ("One specific question: ..."),
    and without a last sentence cut off mid-phrase when complete sentences come before it; None
    when it is filler (see :func:`filler_reason`)."""
    text = _LEAD_IN.sub("", item.strip()).strip()
    labelled = _LABELLED_QUOTE.fullmatch(text)
    if labelled:  # 'The main idea: "A storm flooded the rooms."': the quote is the clue, unless it is an answer
        if _ANSWER_LABEL.search(labelled["label"]):
            return None
        text = labelled["quote"].strip()
    reason = filler_reason(text)
    if reason == CUT:
        ends = list(_SENTENCE_END.finditer(text))
        head = text[:ends[-1].end()].strip() if ends else ""
        return head if len(_words(head)) >= 3 and filler_reason(head) is None else None
    return None if reason else text


def is_filler(item: str) -> bool:
    """Whether :func:`filler_reason` finds ``item`` to be filler."""
    return filler_reason(item) is not None


def _words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def add_instructions(texts: Iterable[str]) -> None:
    """Add instructions given to the memory (placeholders such as ``{query}`` may stay in them): a
    line that runs through one of them is an :data:`ECHO`."""
    _INSTRUCTION_TEXTS.extend(texts)
    _instructions.cache_clear()
    _instruction_pairs.cache_clear()


@lru_cache(maxsize=1)
def _instructions() -> tuple[tuple[str, ...], ...]:
    """The token sequences of every instruction the memory is given, in every language, split at
    their placeholders (the query or the text inside an instruction is not the instruction)."""
    pieces: list[tuple[str, ...]] = []
    for text in _INSTRUCTION_TEXTS:
        for part in _PLACEHOLDER.split(text):
            if tokens := tuple(_words(part)):
                pieces.append(tokens)
    return tuple(pieces)


@lru_cache(maxsize=1)
def _instruction_pairs() -> frozenset[tuple[str, str]]:
    return frozenset(pair for piece in _instructions() for pair in zip(piece, piece[1:]))


def _echoes_instructions(words: list[str]) -> bool:
    """Whether 60% of ``words`` (at least three, or all of a shorter line) run in the same order
    through one of the memory's instructions: the model wrote its prompt back."""
    if len(words) < 2 or not _instruction_pairs().intersection(zip(words, words[1:])):
        return False
    need = min(len(words), max(3, -(-3 * len(words) // 5)))
    return any(_longest_common_run(words, piece) >= need for piece in _instructions())


def _longest_common_run(a: list[str], b: tuple[str, ...]) -> int:
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        row = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                row[j] = previous[j - 1] + 1
                best = max(best, row[j])
        previous = row
    return best


def _only_meta(words: list[str]) -> bool:
    """A line with no word but function words and words naming the exchange (Latin script only:
    a CJK character is always counted as content)."""
    content = [w for w in words if w not in _FUNCTION_WORDS]
    return all(w in _META_WORDS for w in content)


def _cut_off(text: str) -> bool:
    """Whether ``text`` stops mid-phrase: on a comma or an opening bracket, trailing off in an
    ellipsis, with a bracket or quote left open and no sentence end, or on a word that needs a
    continuation."""
    if text.endswith((",", ";", "-", "–", "—", "(", "[", "/", "&", "...", "…")):
        return True
    if text.endswith(_CLOSERS):  # an odd quote before it is the opening one whose end parsing stripped
        return False
    if any(text.count(o) > text.count(c) for o, c in _PAIRS) or text.count('"') % 2:
        return True
    last = re.findall(r"[A-Za-z']+$", text)
    return bool(last) and last[0].lower() in _DANGLING
