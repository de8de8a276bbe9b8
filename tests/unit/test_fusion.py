from memorag_integrations.retrieval.fusion import (DEFAULT_RRF_K, FusedHit, cut_to_budget, query_weights,
                                                   reciprocal_rank_fusion)


def test_rrf_merges_duplicates_and_records_which_queries_found_each_hit():
    fused = reciprocal_rank_fusion([
        ("q", [("a", "A", 0.9), ("b", "B", 0.8)]),
        ("clue", [("b", "B", 0.7), ("c", "C", 0.6), ("b", "B", 0.1)]),
    ], rrf_k=0)
    assert [h.key for h in fused] == ["b", "a", "c"]
    b = fused[0]
    assert b.score == 1 / 2 + 1 / 1
    assert b.matched_queries == ["q", "clue"]
    assert b.query_scores == {"q": 0.8, "clue": 0.7}


def test_original_query_weight_can_outrank_expansions():
    rankings = [("q", [("a", None, 1.0)]), ("c1", [("b", None, 1.0)]), ("c2", [("z", None, 1.0)])]
    weights = query_weights(["q", "c1", "c2"], "q", 2.0)
    assert weights == [2.0, 1.0, 1.0]
    assert reciprocal_rank_fusion(rankings, weights=weights)[0].key == "a"
    assert reciprocal_rank_fusion(rankings, weights=[1.0, 3.0, 1.0])[0].key == "b"


def test_default_query_weight_balances_all_expansions_together():
    queries = ["q", "c1", "c2", "c3", "c4"]
    assert query_weights(queries, "q") == [4.0, 1.0, 1.0, 1.0, 1.0]
    assert query_weights(["q"], "q") == [1.0]
    # Four clues that agree on "b" lift it over the query's top hit, by less than a fixed weight of 2 would.
    rankings = [("q", [("a", None, 1.0), ("b", None, 0.9)])] + [(c, [("b", None, 1.0)]) for c in queries[1:]]
    fused = reciprocal_rank_fusion(rankings, weights=query_weights(queries, "q"), rrf_k=0)
    assert [h.key for h in fused][:2] == ["b", "a"] and fused[1].score == 4.0
    two = reciprocal_rank_fusion(rankings, weights=query_weights(queries, "q", 2.0), rrf_k=0)
    assert two[0].score - two[1].score > fused[0].score - fused[1].score


def test_a_chunk_every_search_finds_deep_does_not_outrank_the_querys_first_hit():
    """The case seen on a 46-chunk contract: 20 hits a search, one off-topic clue and one that
    paraphrases the query. "deep" sits at rank 12 of all three lists; "top" is first for the query and
    its paraphrase. With the textbook constant 60 "deep" wins; with the default it does not."""
    filler = [(f"f{i}", None, 0.1) for i in range(11)]
    queries = ["q", "off-topic clue", "paraphrase"]
    rankings = [("q", [("top", None, 0.6), *filler, ("deep", None, 0.3)]),
                ("off-topic clue", [*[(f"o{i}", None, 0.6) for i in range(11)], ("deep", None, 0.5)]),
                ("paraphrase", [("top", None, 0.6), *filler, ("deep", None, 0.3)])]
    weights = query_weights(queries, "q")
    assert reciprocal_rank_fusion(rankings, weights=weights, rrf_k=60)[0].key == "deep"
    assert DEFAULT_RRF_K < 60
    assert reciprocal_rank_fusion(rankings, weights=weights)[0].key == "top"


def test_budget_by_count_and_by_tokens():
    hits = [FusedHit(i, "x" * n) for i, n in enumerate([10, 10, 10, 10])]
    assert len(cut_to_budget(hits, k=3)) == 3
    kept = cut_to_budget(hits, token_budget=25, count_tokens=lambda h: len(h.item))
    assert [h.key for h in kept] == [0, 1]
    # The first hit is always kept, even when it alone is over the budget.
    assert len(cut_to_budget(hits, token_budget=5, count_tokens=lambda h: len(h.item))) == 1
