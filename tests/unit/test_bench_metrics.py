"""Benchmark metrics: recall by span overlap and by id, SQuAD EM / F1, ROUGE-L."""


import pytest


from benchmarks import metrics  # noqa: E402

GOLD_TWO = [[("doc", 100, 200)], [("doc", 500, 600)]]  # hotpot-like: two gold paragraphs


def test_overlap_needs_the_same_document_and_a_shared_character():
    assert metrics.overlaps(("a", 0, 10), ("a", 9, 20))
    assert not metrics.overlaps(("a", 0, 10), ("a", 10, 20))  # ends are exclusive
    assert not metrics.overlaps(("a", 0, 10), ("b", 0, 10))


def test_recall_any_and_all_respect_k():
    retrieved = [("doc", 0, 90), ("doc", 150, 300), ("doc", 300, 400), ("doc", 590, 700)]
    assert metrics.groups_hit(retrieved, GOLD_TWO, 4) == [True, True]
    assert metrics.recall_any(retrieved, GOLD_TWO, 1) == 0.0
    assert metrics.recall_any(retrieved, GOLD_TWO, 2) == 1.0
    assert metrics.recall_all(retrieved, GOLD_TWO, 3) == 0.0
    assert metrics.recall_all(retrieved, GOLD_TWO, 4) == 1.0
    assert metrics.recall_all(retrieved, [], 4) == 0.0


def test_alternative_spans_in_one_group_count_once():
    gold = [[("doc", 0, 5), ("doc", 50, 55)]]  # legal: the clause appears twice
    assert metrics.recall_any([("doc", 52, 60)], gold, 1) == 1.0
    assert metrics.recall_all([("doc", 52, 60)], gold, 1) == 1.0


def test_recall_by_id_deduplicates_before_cutting():
    assert metrics.recall_by_id(["x", "x", "x", "gold"], ["gold"], 2) == 1.0
    assert metrics.recall_by_id(["x", "y", "gold"], ["gold"], 2) == 0.0


def test_squad_exact_match_and_f1():
    assert metrics.exact_match("The Cat!", ["cat"]) == 1.0
    assert metrics.exact_match("a dog", ["cat", "dog"]) == 1.0
    assert metrics.exact_match("cats", ["cat"]) == 0.0
    # pred tokens [big, red, cat], gold [red, cat, sat]: 2 shared, P = R = 2/3
    assert metrics.token_f1("the big red cat", ["red cat sat"]) == pytest.approx(2 / 3)
    assert metrics.token_f1("nothing here", ["red cat"]) == 0.0
    assert metrics.token_f1("red cat", ["dog", "red cat"]) == 1.0


def test_rouge_l_is_the_lcs_f_measure():
    # LCS of [a b c d] and [a c d e] is [a c d]: P = R = 3/4
    assert metrics.rouge_l("a b c d", ["a c d e"]) == pytest.approx(0.75)
    assert metrics.rouge_l("The rooms were CLEAN.", ["the rooms were clean"]) == 1.0
    assert metrics.rouge_l("", ["anything"]) == 0.0
    assert metrics.rouge_l("x y", ["z", "x q y"]) == pytest.approx(2 * (1.0 * 2 / 3) / (1.0 + 2 / 3))


def test_mean_of_nothing_is_none():
    assert metrics.mean([]) is None
    assert metrics.mean([1.0, 0.0]) == 0.5


def test_paired_bootstrap_gives_the_mean_difference_an_interval_and_the_counts():
    better = [1.0] * 30 + [0.0] * 20
    worse = [0.0] * 10 + [1.0] * 20 + [0.0] * 20  # 10 wins, 40 ties
    out = metrics.paired_bootstrap(better, worse)
    assert out["diff"] == 0.2 and (out["wins"], out["ties"], out["losses"], out["n"]) == (10, 40, 0, 50)
    assert 0.0 < out["low"] < 0.2 < out["high"] <= 0.4
    assert metrics.paired_bootstrap(better, worse) == out  # seeded: the same report every time
    same = metrics.paired_bootstrap(worse, worse)
    assert same["diff"] == same["low"] == same["high"] == 0.0
    mixed = metrics.paired_bootstrap([1.0, 0.0] * 10, [0.0, 1.0] * 10)
    assert mixed["low"] < 0 < mixed["high"]
    with pytest.raises(ValueError):
        metrics.paired_bootstrap([1.0], [])


def test_a_fact_counts_when_one_chunk_holds_at_least_half_of_it():
    facts = [("a", 100, 200), ("b", 0, 40)]
    assert metrics.covered(("a", 100, 200), [("a", 150, 400)])  # exactly half
    assert not metrics.covered(("a", 100, 200), [("a", 0, 149), ("a", 151, 300)])  # split in two: neither half
    assert metrics.fact_recall([("a", 120, 300), ("b", 30, 90)], facts, 2) == 0.5
    assert metrics.fact_recall([("z", 0, 9), ("a", 120, 300), ("b", 0, 90)], facts, 2) == 0.5  # k cuts
    assert metrics.fact_recall([("a", 0, 900), ("b", 0, 90)], facts, 2) == 1.0
    assert metrics.fact_recall([], [], 10) == 0.0


def test_all_gold_documents_must_be_reached_within_k():
    got = [("a", 0, 9), ("c", 0, 9), ("b", 0, 9)]
    assert metrics.all_docs(got, ["a", "b"], 3) == 1.0
    assert metrics.all_docs(got, ["a", "b"], 2) == 0.0
    assert metrics.all_docs(got, [], 3) == 0.0


@pytest.mark.parametrize("prediction, answers, expected", [
    ("Yes, both articles agree.", ["Yes"], 1.0), ("No. Yes would be wrong.", ["yes"], 0.0),
    ("It is not known", ["no"], 0.0), ("The company is Amazon.", ["Amazon"], 1.0),
    ("Amazon's sellers", ["Amazon"], 1.0), ("Walmart", ["Amazon"], 0.0)])
def test_answer_containment_reads_yes_no_by_the_first_such_word(prediction, answers, expected):
    assert metrics.answer_contains(prediction, answers) == expected
