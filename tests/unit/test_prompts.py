import pytest

from memorag_integrations.prompts import CHINESE, ENGLISH, count_tokens, detect_language, get_prompts, parse_items


def test_parse_items_strips_numbering_bullets_labels_and_quotes():
    output = """1. First clue here
2) "Second clue, quoted"

- third clue with a dash
* fourth clue star
• fifth clue bullet
Question: sixth as a labelled line
(7) seventh in parentheses
"""
    assert parse_items(output, max_items=10) == [
        "First clue here", "Second clue, quoted", "third clue with a dash", "fourth clue star",
        "fifth clue bullet", "sixth as a labelled line", "seventh in parentheses",
    ]


def test_parse_items_deduplicates_ignoring_case_and_punctuation():
    assert parse_items("- The Same clue\n- the same clue.\n- 'THE SAME CLUE'\n- another one") == [
        "The Same clue", "another one"]


def test_parse_items_drops_short_lines_and_the_echoed_query():
    items = parse_items("ok\nWhat is the answer?\nA real clue about it", exclude="what is the answer")
    assert items == ["A real clue about it"]


def test_min_length_counts_cjk_tokens_so_short_chinese_clues_survive():
    # No spaces at all: a space-based filter would count one word and drop both.
    items = parse_items("1. 公司在疫情期间转向线上销售\n2、收入增长\n3. 好", min_tokens=3)
    assert items == ["公司在疫情期间转向线上销售", "收入增长"]
    assert count_tokens("東京タワー") == 5
    assert count_tokens("hello world, again") == 3


def test_parse_items_drops_the_preamble_that_introduces_a_list():
    # Written by the embedded model before its clues; as a search query it only adds noise.
    output = ("What a delightful question! Here are some more specific questions:\n"
              "1. When was the novel first published?\n以下是一些问题：\n2. 这本书是哪一年出版的")
    assert parse_items(output) == ["When was the novel first published?", "这本书是哪一年出版的"]


def test_parse_items_drops_markdown_headings_and_bracketed_notes():
    # Written by the embedded model for a contract question (benchmarks/results/legal-dev.json).
    output = ("Text 1:**\n[Translate to English]\nPart 1: Implementation**\nSection 2**\n"
              "## The **Initial Term** ends five years after the Effective Date\n"
              "- **Termination** for convenience needs 90 days notice__")
    assert parse_items(output) == ["The Initial Term ends five years after the Effective Date",
                                   "Termination for convenience needs 90 days notice"]
    assert parse_items("Section 2 of the lease covers rent") == ["Section 2 of the lease covers rent"]
    assert parse_items("call __init__ twice") == ["call __init__ twice"]


def test_parse_items_respects_max_items():
    assert len(parse_items("\n".join(f"clue number {i}" for i in range(20)), max_items=4)) == 4


@pytest.mark.parametrize("text,lang", [
    ("How did the pandemic change the company?", "en"),
    ("疫情如何改变了这家公司？", "zh"),
    ("公司的 revenue 在2020年如何变化？", "zh"),
    ("", "en"),
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_prompt_sets_share_placeholders():
    for field in ("gist", "clue_spans", "surrogate_questions", "memory_answer", "answer", "summary", "context"):
        en, zh = getattr(ENGLISH, field), getattr(CHINESE, field)
        for name in ("{text}", "{query}", "{evidence}", "{context}"):
            assert (name in en) == (name in zh), (field, name)
    assert get_prompts("zh") is CHINESE
    with pytest.raises(ValueError, match="choose one of"):
        get_prompts("xx")
