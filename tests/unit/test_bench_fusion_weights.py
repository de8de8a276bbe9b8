"""The dev-tuning helper that re-ranks a run's recorded clues: its weight rules and clue re-parsing."""


import pytest


from benchmarks.fusion_weights import query_weight, still_parsed  # noqa: E402


@pytest.mark.parametrize("weight,clues,expected", [("2", 6, 2.0), ("n", 6, 6.0), ("0.5n", 6, 3.0), ("n", 0, 1.0)])
def test_query_weight_is_fixed_or_a_multiple_of_the_clue_count(weight, clues, expected):
    assert query_weight(weight, clues) == expected


def test_still_parsed_drops_what_the_parser_now_rejects_and_keeps_a_draft_whole():
    recorded = ["Text 1:**", "[Translate to English]", "What is the initial term?", "Section 2**",
                "The term is five years.\nIt renews yearly."]
    assert still_parsed(recorded) == ["What is the initial term?", "The term is five years.\nIt renews yearly."]
