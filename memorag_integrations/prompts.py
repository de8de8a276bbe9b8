"""Prompt sets (English, Chinese), language detection and robust parsing of list outputs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from memorag_integrations.filler import add_instructions, clean


@dataclass(frozen=True)
class PromptSet:
    """All prompts of one language. Placeholders: {context}, {text}, {query}, {evidence}."""

    language: str
    context: str
    ack: str
    gist: str
    clue_spans: str
    surrogate_questions: str
    memory_answer: str
    key_points: str
    answer: str
    summary: str
    passage_question: str
    missing: str
    no_evidence: str
    nothing_found: str

    def memory_fingerprint(self) -> str:
        """The prompts that shape what a memory holds (reading and gisting), not how it is queried:
        caches of memorized text key on this, so a new query prompt does not discard them."""
        return "\0".join((self.language, self.context, self.ack, self.gist))


ENGLISH = PromptSet(
    language="en",
    context="Read the text below closely; questions about it will follow.\n\n{context}",
    ack="I have read the whole text and I am ready for questions about it.",
    gist=(
        "Condense this passage into a few dense sentences. Keep names, numbers, definitions "
        "and the main facts.\n\nPassage:\n{text}"
    ),
    clue_spans=(
        "Question: {query}\n\nFrom the text you read, quote the short passages that help answer "
        "this question. Write one passage per line, copied as closely as you can."
    ),
    surrogate_questions=(
        "Question: {query}\n\nThis question may be vague. Rewrite it as a few specific questions "
        "that can each be answered by looking something up in the text. One question per line."
    ),
    memory_answer="Answer briefly from what you remember of the text.\n\nQuestion: {query}",
    key_points=(
        "List the key points of the text that a summary must cover, one per line."
    ),
    answer=(
        "Answer the question using the numbered passages. Cite the passages you use as [1], [2]. "
        "If they do not contain the answer, say so.\n\nPassages:\n{evidence}\n\nQuestion: {query}"
    ),
    summary="Write a concise summary of the text from these passages.\n\nPassages:\n{evidence}",
    # The reranker's prompt: how likely the user's question is as the reply scores the passage.
    passage_question="Passage:\n{text}\n\nWrite a question that this passage answers.",
    # A memory-led round (memorag_integrations.rounds): what the found passages still lack, as a search.
    missing=(
        "Question: {query}\n\nPassages found so far:\n{evidence}\n\nWhat does the question need that these "
        "passages do not say? Write it as one short search query. If they say everything it needs, write NONE."
    ),
    no_evidence="(no passage was retrieved)",
    nothing_found="No passage of the corpus was retrieved for this question, so there is nothing to answer from.",
)

CHINESE = PromptSet(
    language="zh",
    context="请仔细阅读下面的文本，之后会有关于它的问题。\n\n{context}",
    ack="我已经读完全文，可以回答关于它的问题。",
    gist="把这段文字浓缩成几句精炼的话，保留人名、数字、定义和主要事实。\n\n段落：\n{text}",
    clue_spans="问题：{query}\n\n从你读过的文本中摘录有助于回答这个问题的短句，每行一句，尽量照原文抄写。",
    surrogate_questions=(
        "问题：{query}\n\n这个问题可能比较含糊。请把它改写成几个具体的问题，每个问题都能在文本中查到答案。每行一个问题。"
    ),
    memory_answer="根据你对文本的记忆简要回答。\n\n问题：{query}",
    key_points="列出摘要必须涵盖的文本要点，每行一条。",
    answer=(
        "请根据编号的段落回答问题，并用 [1]、[2] 标注引用的段落。如果段落中没有答案，请说明。"
        "\n\n段落：\n{evidence}\n\n问题：{query}"
    ),
    summary="请根据这些段落写一段简明的全文摘要。\n\n段落：\n{evidence}",
    passage_question="段落：\n{text}\n\n写一个这段文字能回答的问题。",
    missing=(
        "问题：{query}\n\n目前找到的段落：\n{evidence}\n\n这个问题还需要哪些这些段落没有说到的信息？"
        "写成一个简短的检索查询。如果段落已经说到了所需的一切，写 NONE。"
    ),
    no_evidence="（没有检索到段落）",
    nothing_found="没有检索到与这个问题相关的段落，无法根据文本回答。",
)

PROMPT_SETS = {"en": ENGLISH, "zh": CHINESE}
# The memory's instructions, which a clue must not echo back (see memorag_integrations.filler).
add_instructions(getattr(prompts, field) for prompts in PROMPT_SETS.values()
                 for field in ("context", "ack", "gist", "clue_spans", "surrogate_questions", "memory_answer",
                               "key_points", "answer", "summary", "missing"))

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# A "token" for length filters: one CJK/kana/hangul character, or one run of word characters.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+")


def detect_language(text: str) -> str:
    """'zh' when CJK characters make up a fifth of the letters, else 'en'."""
    sample = text[:20000]
    letters = sum(1 for ch in sample if ch.isalpha())
    if not letters:
        return "en"
    return "zh" if len(_CJK.findall(sample)) / letters >= 0.2 else "en"


def get_prompts(language: str) -> PromptSet:
    try:
        return PROMPT_SETS[language]
    except KeyError:
        raise ValueError(
            f"no prompt set for language {language!r}; choose one of {sorted(PROMPT_SETS)}"
        ) from None


def count_tokens(text: str) -> int:
    """Language-neutral token count: CJK characters count one each, other words one per run."""
    return len(_TOKEN.findall(text))


_BULLET = re.compile(r"^\s*(?:[-*•·‣▪–—>]+|\(?\d{1,3}[.)、:：]|\(?[a-zA-Z][.)]|[一二三四五六七八九十]+[、.])\s*")
_LABEL = re.compile(r"^\s*(?:question|passage|excerpt|q|a|answer|text|part|section|chapter|clue|问题|段落)"
                    r"\s*\d*\s*[:：]\s*", re.I)
_QUOTES = "\"'“”‘’「」『』《》`"
_MARKUP = re.compile(r"\*\*|^\s*#+\s*|^\s*__|__\s*$")  # markdown bold and headings around an item
# Lines that only name a part of the text ("Section 2", "Text 1") or give an instruction in brackets.
_HEADING = re.compile(r"(?:text|part|section|chapter|paragraph|passage|clue|span|step|item)\s*\d+\.?|\[[^\]]*\]", re.I)


def parse_items(output: str, *, min_tokens: int = 2, max_items: int = 8, exclude: str = "",
                drop_filler: bool = True) -> list[str]:
    """Split a model's list output into clean, unique items.

    Handles numbering, bullets, labels, quotes, markdown emphasis and blank lines; a line ending in a
    colon introduces the list ("Here are some questions:"), and a bare heading ("Section 2**") or a
    bracketed note ("[Translate to English]") names no content: none of them is an item.
    ``min_tokens`` counts tokens as :func:`count_tokens` does, so short CJK clues survive. Items
    equal to ``exclude`` (the query echoed back) are dropped, and so (``drop_filler``) are lines
    that echo the instructions, talk about the task or stop mid-phrase (see
    :mod:`memorag_integrations.filler`), before anyone searches or sees them.
    """
    items: list[str] = []
    seen: set[str] = set()
    echo = _normalise(exclude)
    for raw in output.splitlines():
        line = _MARKUP.sub("", raw).strip()
        for _ in range(3):  # "1. - 'text'" needs more than one pass
            stripped = _LABEL.sub("", _BULLET.sub("", line)).strip().strip(_QUOTES).strip()
            if stripped == line:
                break
            line = stripped
        if line.endswith((":", "\uff1a")) or _HEADING.fullmatch(line):  # preambles and headings, not clues
            continue
        if drop_filler:
            kept = clean(line)
            if kept is None:
                continue
            line = kept
        key = _normalise(line)
        if not key or key in seen or key == echo or count_tokens(line) < min_tokens:
            continue
        seen.add(key)
        items.append(line)
        if len(items) >= max_items:
            break
    return items


def _normalise(text: str) -> str:
    return " ".join(_TOKEN.findall(text.lower()))


def format_evidence(texts: list[str], prompts: PromptSet) -> str:
    if not texts:
        return prompts.no_evidence
    return "\n\n".join(f"[{i}] {t.strip()}" for i, t in enumerate(texts, 1))
