"""The rerank step of the pipeline: which candidates a reranker reads, how its order is fused with
theirs, and the engine's checks. The reranker here is a word counter; the real model's scores are
tested in tests/slow/test_rerank_real.py."""

import asyncio

import pytest
from fakes import HashEmbedder, ScriptedGenerator
from test_pipeline import ListSearcher

from memorag_integrations import Clues, InvalidInputError, MemoRAG, PromptMemory
from memorag_integrations.errors import UnsupportedError
from memorag_integrations.pipeline import Fusion, Steps, arank, rank, reordered
from memorag_integrations.retrieval.fusion import FusedHit
from memorag_integrations.retrieval.rerank import QueryLikelihoodReranker, Reranker
from memorag_integrations.retrieval.retriever import DenseRetriever

ITEMS = ["apple pie recipe", "apple tree orchard", "apple orchard harvest in autumn", "pie crust"]


class WordReranker(Reranker):
    """Scores a text by how often ``favourite`` occurs in it; records what it read."""

    def __init__(self, favourite="autumn"):
        self.favourite, self.read, self.asynced = favourite, [], False

    def score(self, query, texts):
        self.read.append(list(texts))
        return [float(t.split().count(self.favourite)) for t in texts]

    async def ascore(self, query, texts):
        self.asynced = True
        return self.score(query, texts)


def hits(*names):
    return [FusedHit(n, n, score=1.0 / i) for i, n in enumerate(names, 1)]


def test_reordered_fuses_the_two_orders_and_keeps_the_rest_in_place():
    fused = hits("a", "b", "c", "d", "e")
    out = reordered(fused, [0.0, 0.0, 5.0], rrf_k=10)  # the reranker puts "c" first among a, b, c
    # c: 1/13 + 1/11 beats b: 1/12 + 1/13; a and b score alike for the reranker, so a stays before b
    assert [h.key for h in out] == ["a", "c", "b", "d", "e"]
    assert [h.rerank_score for h in out] == [0.0, 5.0, 0.0, None, None]
    assert out[0].score == pytest.approx(1 / 11 + 1 / 12)
    assert [h.score for h in out[3:]] == [1 / 4, 1 / 5]  # unread hits keep their fused scores


def test_a_candidate_both_orders_put_first_stays_first():
    out = reordered(hits("a", "b", "c"), [9.0, 1.0, 2.0], rrf_k=10)
    assert [h.key for h in out] == ["a", "c", "b"]


def test_rank_reranks_only_the_best_candidates_and_then_cuts_to_k():
    searcher, reranker = ListSearcher(ITEMS), WordReranker()
    plain = rank(searcher, "apple orchard", None, k=2, fusion=Fusion(), count_tokens=len)
    assert [h.item for h in plain] == ["apple tree orchard", "apple orchard harvest in autumn"]
    got = rank(searcher, "apple orchard", None, k=2, fusion=Fusion(), count_tokens=len, steps=Steps(rerank=3),
               reranker=reranker)
    assert reranker.read == [["apple tree orchard", "apple orchard harvest in autumn", "apple pie recipe"]]
    assert [h.item for h in got] == ["apple orchard harvest in autumn", "apple tree orchard"]
    assert got[0].rerank_score == 1.0


def test_arank_scores_through_the_rerankers_async_path():
    reranker = WordReranker()
    got = asyncio.run(arank(ListSearcher(ITEMS), "apple orchard", None, k=2, fusion=Fusion(), count_tokens=len,
                            steps=Steps(rerank=3), reranker=reranker))
    assert reranker.asynced and got[0].item == "apple orchard harvest in autumn"


def test_nothing_is_reranked_without_a_query_or_with_the_step_off():
    searcher, reranker = ListSearcher(ITEMS), WordReranker()
    rank(searcher, "", Clues(["apple orchard"]), k=2, fusion=Fusion(), count_tokens=len, steps=Steps(rerank=3),
         reranker=reranker)  # a summary's key points: no question to judge passages by
    rank(searcher, "apple orchard", None, k=2, fusion=Fusion(), count_tokens=len, reranker=reranker)
    assert reranker.read == []


def test_rerank_without_a_reranker_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="needs a reranker"):
        rank(ListSearcher(ITEMS), "apple orchard", None, k=2, fusion=Fusion(), count_tokens=len, steps=Steps(rerank=3))


def test_a_query_searched_with_clues_has_its_own_depth():
    searcher, steps = ListSearcher(ITEMS), Steps(rerank=2, rerank_with_clues=4)
    alone, clued, grounded_out = WordReranker(), WordReranker(), WordReranker()
    rank(searcher, "apple orchard", None, k=2, fusion=Fusion(), count_tokens=len, steps=steps, reranker=alone)
    rank(searcher, "apple orchard", Clues(["pie crust"]), k=2, fusion=Fusion(), count_tokens=len, steps=steps,
         reranker=clued)
    assert [len(r) for r in alone.read] == [2] and [len(r) for r in clued.read] == [4]
    # A clue that grounding drops is not searched: the query's own depth.
    rank(searcher, "apple orchard", Clues(["violin concerto"]), k=2, fusion=Fusion(), count_tokens=len,
         steps=Steps(rerank=2, rerank_with_clues=4, grounding=0.5), reranker=grounded_out)
    assert [len(r) for r in grounded_out.read] == [2]
    both = WordReranker()
    asyncio.run(arank(searcher, "apple orchard", Clues(["pie crust"]), k=2, fusion=Fusion(), count_tokens=len,
                      steps=steps, reranker=both))
    assert [len(r) for r in both.read] == [4]
    unset = WordReranker()  # None: the same depth as a query alone
    rank(searcher, "apple orchard", Clues(["pie crust"]), k=2, fusion=Fusion(), count_tokens=len,
         steps=Steps(rerank=2), reranker=unset)
    assert [len(r) for r in unset.read] == [2]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_rerank_depths_are_refused(bad):
    with pytest.raises(InvalidInputError, match="rerank must be"):
        Steps(rerank=bad)
    with pytest.raises(InvalidInputError, match="rerank_with_clues must be"):
        Steps(rerank=3, rerank_with_clues=bad)


def engine(**options):
    return MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(HashEmbedder(), chunk_tokens=8), progress=False,
                   **options)


def test_the_engine_refuses_to_rerank_with_a_generator_that_cannot_score():
    with pytest.raises(InvalidInputError, match="cannot: pass reranker="):
        engine(rerank=5)
    with pytest.raises(UnsupportedError, match="TransformersGenerator can"):
        QueryLikelihoodReranker(ScriptedGenerator()).score("q", ["a passage"])


def test_the_engine_reranks_with_the_reranker_it_is_given():
    reranker = WordReranker("autumn")
    core = engine(rerank=4, reranker=reranker, k=1, grounding=None)
    core.memorize(". ".join(ITEMS))
    evidence = core.retrieve("apple orchard", clues=Clues())
    assert reranker.read and evidence[0].rerank_score is not None
    assert core.steps.rerank == 4


def test_by_default_the_engine_reranks_only_where_a_model_can_score(monkeypatch):
    from fakes import ScoringGenerator

    from memorag_integrations import defaults

    monkeypatch.setattr(defaults, "RERANK", 4)
    monkeypatch.setattr(defaults, "RERANK_WITH_CLUES", 6)
    assert engine().steps.rerank == 0 and engine().reranker is None  # a generator without probabilities
    assert engine().steps.rerank_with_clues == 0
    scoring = MemoRAG(PromptMemory(ScoringGenerator()), DenseRetriever(HashEmbedder()), progress=False)
    assert scoring.steps.rerank == 4 and scoring.rerank is None  # None: the default, kept as such for saving
    assert scoring.steps.rerank_with_clues == 6  # more candidates where clues' hits compete for them
    given = MemoRAG(PromptMemory(ScoringGenerator()), DenseRetriever(HashEmbedder()), rerank=5, progress=False)
    assert given.steps.rerank == given.steps.rerank_with_clues == 5  # a depth given is the depth
    assert isinstance(scoring.reranker, QueryLikelihoodReranker)
    assert engine(reranker=WordReranker()).steps.rerank == 4  # a reranker of its own
    off = MemoRAG(PromptMemory(ScoringGenerator()), DenseRetriever(HashEmbedder()), rerank=0, progress=False)
    assert off.steps.rerank == 0 and off.reranker is None


def bag_of_words(texts):
    """A stand-in embedder: one dimension per word of a small vocabulary."""
    import numpy as np

    vocab = ["loop", "break", "early", "exit", "class", "attribute", "weather", "rain"]
    return np.array([[t.lower().count(w) for w in vocab] for t in texts], dtype=float)


class RecordingScorer(ScriptedGenerator):
    def __init__(self):
        super().__init__()
        self.prompts = []

    def continuation_logprobs(self, prompts, continuation):
        self.prompts.extend(prompts)
        return [0.0] * len(prompts)


def test_the_reranker_can_read_each_passages_sentences_nearest_the_query():
    from memorag_integrations.retrieval.rerank import nearest_sentences

    passage = ("The weather was fine all week. A break statement ends the loop early. "
               "Classes define each attribute they hold. Rain fell hard on Sunday night. Use exit to leave early.")
    short = "A loop can break early."
    got = nearest_sentences("How do I break out of a loop early?", [passage, short], 2, bag_of_words)
    assert got == ["A break statement ends the loop early. Use exit to leave early.", short]  # in their order
    assert nearest_sentences("q", ["no sentences here", short], 2, bag_of_words) == ["no sentences here", short]
    gen = RecordingScorer()
    QueryLikelihoodReranker(gen, sentences=1, encode=bag_of_words).score("Why did rain fall?", [passage])
    assert "Rain fell hard on Sunday night." in gen.prompts[0]
    assert "The weather was fine" not in gen.prompts[0]


def test_reading_sentences_needs_an_embedder_and_a_positive_count():
    with pytest.raises(InvalidInputError, match="sentences needs encode"):
        QueryLikelihoodReranker(ScriptedGenerator(), sentences=2)
    with pytest.raises(InvalidInputError, match="sentences must be a positive whole number"):
        QueryLikelihoodReranker(ScriptedGenerator(), sentences=0, encode=bag_of_words)
