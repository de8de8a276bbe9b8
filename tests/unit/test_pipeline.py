"""The one query pipeline: planning the searches, any Searcher, fusion and the budget, the tasks."""

import json

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import Clues, Document, EmptyQueryError, InvalidInputError, MemoRAG, PromptMemory
from memorag_integrations import defaults
from memorag_integrations.defaults import fetch_count, memory_budget
from memorag_integrations.pipeline import Fusion, Steps, arank, check_k, plan_searches, rank
from memorag_integrations.retrieval.grounding import content_words, support
from memorag_integrations.prompts import get_prompts
from memorag_integrations.retrieval.chunking import Chunker
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.retrieval.search import Hit, Searcher
from memorag_integrations.tasks import RETRIEVAL_TASKS, TASK_NAMES, get_task
from memorag_integrations.text import regex_offsets


class ListSearcher(Searcher):
    """Searches a list of strings by shared words; records every call, and which path was taken."""

    def __init__(self, items):
        self.items, self.calls = list(items), []

    def search(self, queries, k):
        self.calls.append(("sync", list(queries), k))
        return [self._ranked(q, k) for q in queries]

    async def asearch(self, queries, k):
        self.calls.append(("async", list(queries), k))
        return [self._ranked(q, k) for q in queries]

    def _ranked(self, query, k):
        words = set(query.lower().split())
        scored = [(len(words & set(item.lower().split())), i) for i, item in enumerate(self.items)]
        return [Hit(f"item-{i}", self.items[i], float(s)) for s, i in sorted(scored, key=lambda x: (-x[0], x[1]))
                if s > 0][:k]

    def text_of(self, item):
        return item


ITEMS = ["the launch was in 1969", "the crew of three", "rain and wind all week", "the launch pad in Florida"]


def test_plan_searches_keeps_the_query_first_and_each_search_once():
    clues = Clues([" the crew ", "the crew", ""], ["When was the launch?"], draft="1969")
    assert plan_searches(" When was the launch? ", clues) == ["When was the launch?", "the crew", "1969"]
    assert plan_searches("", Clues(["key point"])) == ["key point"]
    assert plan_searches("q", None) == ["q"]


def test_rank_fuses_any_searcher_and_keeps_which_queries_found_each_hit():
    searcher = ListSearcher(ITEMS)
    hits = rank(searcher, "launch", Clues(["crew of three"]), k=3, fusion=Fusion(), count_tokens=len)
    # The clue's first hit ties the query's first (equal weights, first seen wins) and beats its second.
    assert [h.item for h in hits] == ["the launch was in 1969", "the crew of three", "the launch pad in Florida"]
    assert hits[0].matched_queries == ["launch"] and hits[0].key == "item-0"
    assert searcher.calls == [("sync", ["launch", "crew of three"], fetch_count(3))]


async def test_arank_uses_the_searchers_own_async_search():
    searcher = ListSearcher(ITEMS)
    hits = await arank(searcher, "launch", Clues(["crew"]), k=2, fusion=Fusion(), count_tokens=len, fetch_k=3)
    assert len(hits) == 2 and searcher.calls == [("async", ["launch", "crew"], 3)]


def test_support_counts_the_clues_new_content_words_found_in_the_text():
    assert content_words("What is the answer to this question?") == set()
    assert support("Please ask your next question.", "the launch was in 1969") == 0.0
    assert support("the launch was in 1969", "The launch was in 1969.") == 1.0
    assert support("launch of Apollo in 1969", "the launch was in 1969") == 2 / 3
    # Words the clue shares with the query say nothing about whether the text was read.
    assert support("Apollo launch in 1972", "the launch pad", exclude="When was the Apollo launch?") == 0.0
    assert support("发射于1969年", "发射时间是1969年") == 1.0


def test_grounding_drops_the_clues_their_own_best_hit_does_not_support():
    searcher = ListSearcher(ITEMS)
    steps = Steps(grounding=0.5)
    invented = "the crew won the cup in rain"  # its best hit ("the crew of three") lacks most of its words
    kept = rank(searcher, "launch", Clues([invented, "launch pad in Florida"]), k=4, fusion=Fusion(),
                count_tokens=len, steps=steps)
    assert all(invented not in h.matched_queries for h in kept)
    assert any("launch pad in Florida" in h.matched_queries for h in kept)
    # The query is never dropped, however it is padded.
    padded = rank(searcher, " launch ", Clues([invented]), k=4, fusion=Fusion(), count_tokens=len, steps=steps)
    assert padded and all(h.matched_queries == ["launch"] for h in padded)
    # Key points with no query are all there is to search: kept even when none is supported.
    summary = rank(searcher, "", Clues([invented]), k=2, fusion=Fusion(), count_tokens=len, steps=steps)
    assert summary and summary[0].matched_queries == [invented]
    # Without the step the invented clue is searched and brings in what it found.
    loose = rank(searcher, "launch", Clues([invented]), k=4, fusion=Fusion(), count_tokens=len)
    assert any(invented in h.matched_queries for h in loose)


def test_feedback_searches_the_query_with_the_first_rounds_best_hit():
    items = ["the Saturn V builder was Boeing", "Boeing headquarters in Arlington", "rain and wind"]
    searcher = ListSearcher(items)
    hits = rank(searcher, "Saturn V builder", None, k=2, fusion=Fusion(), count_tokens=len, steps=Steps(feedback=1))
    assert searcher.calls[1][1] == ["Saturn V builder\n\nthe Saturn V builder was Boeing"]
    # The first hit leads to what the query alone does not find: where the builder is based.
    assert [h.item for h in hits] == items[:2]
    assert hits[1].matched_queries == ["Saturn V builder (second round)"]
    plain = rank(ListSearcher(items), "Saturn V builder", None, k=2, fusion=Fusion(), count_tokens=len)
    assert [h.item for h in plain] == items[:1]
    no_query = ListSearcher(items)
    rank(no_query, "", Clues(["Saturn V builder"]), k=2, fusion=Fusion(), count_tokens=len, steps=Steps(feedback=1))
    assert len(no_query.calls) == 1  # a summary's key points get no second round


async def test_arank_takes_the_same_steps():
    searcher = ListSearcher(ITEMS)
    steps = Steps(grounding=0.5, feedback=1)
    sync = rank(ListSearcher(ITEMS), "launch", Clues(["crew won the cup"]), k=3, fusion=Fusion(), count_tokens=len,
                steps=steps)
    hits = await arank(searcher, "launch", Clues(["crew won the cup"]), k=3, fusion=Fusion(), count_tokens=len,
                       steps=steps)
    assert [h.key for h in hits] == [h.key for h in sync]
    assert [c[0] for c in searcher.calls] == ["async", "async"]


def test_engine_passes_its_steps_to_the_pipeline():
    engine = make_engine(grounding=0.4, feedback=2)
    assert engine.steps == Steps(grounding=0.4, feedback=2, rerank_with_clues=0, scope=defaults.SCOPE)


@pytest.mark.parametrize("options, message", [
    ({"grounding": 1.5}, "grounding must be a share between 0 and 1"), ({"grounding": "0.5"}, "grounding"),
    ({"feedback": -1}, "feedback must be a whole number"), ({"feedback": 1.5}, "feedback"),
    ({"feedback": True}, "feedback")])
def test_bad_step_settings_get_a_typed_error_at_construction(options, message):
    with pytest.raises(InvalidInputError, match=message):
        make_engine(**options)
    with pytest.raises(InvalidInputError, match="feedback_weight"):
        Steps(feedback_weight=0)


def test_the_token_budget_counts_the_searchers_text():
    searcher = ListSearcher(ITEMS)
    hits = rank(searcher, "the launch crew", None, k=4, fusion=Fusion(token_budget=30), count_tokens=len)
    assert sum(len(h.item) for h in hits) <= 30 or len(hits) == 1
    assert len(hits) < 4


def test_k_must_be_a_positive_integer():
    assert check_k(3) == 3
    for bad in (0, -1, "3", 2.0, True, None):
        with pytest.raises(InvalidInputError, match="positive integer"):
            check_k(bad)


def test_memory_budget_keeps_room_for_the_answer():
    assert memory_budget(8192) == 7168 and memory_budget(8192, 4096) == 4096
    assert memory_budget(8192, 100_000) == 7168 and memory_budget(1024) == 512


# -- tasks ----------------------------------------------------------------------------------------------
def test_task_registry():
    assert TASK_NAMES == ("memorag", "qa", "summarize") and RETRIEVAL_TASKS == ("memorag", "summarize")
    assert get_task("qa").memory_answers and not get_task("qa").retrieves
    with pytest.raises(InvalidInputError, match="unknown task 'translate'; use one of memorag, qa, summarize"):
        get_task("translate")
    with pytest.raises(InvalidInputError, match="for retrieval; use one of memorag, summarize"):
        get_task("qa", retrieving=True)


def test_task_queries_prompts_and_memory_calls():
    en = get_prompts("en")
    memorag, summarize = get_task("memorag"), get_task("summarize")
    with pytest.raises(EmptyQueryError):
        memorag.check_query("  ")
    with pytest.raises(InvalidInputError, match="string"):
        memorag.check_query(42)
    assert summarize.check_query(None) == "" and summarize.check_query(" focus ") == "focus"
    calls = memorag.memory_calls(en, "q", use_draft=True, clue_tokens=7, answer_tokens=9)
    assert [n for _, n in calls] == [7, 7, 7] and "q" in calls[0][0]
    assert summarize.memory_calls(en, "", use_draft=True, clue_tokens=7, answer_tokens=9) == [(en.key_points, 9)]
    assert summarize.prompt(en, "the money", ["a"]).endswith("\n\nthe money")
    assert summarize.prompt(en, "", ["a"]) == en.summary.format(evidence="[1] a")
    assert memorag.prompts("什么时候发射的？", "en").language == "zh"
    assert summarize.prompts("", "zh").language == "zh"


# -- the engine around the pipeline ----------------------------------------------------------------------
def components():
    return PromptMemory(ScriptedGenerator()), DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0)


def make_engine(**options):
    return MemoRAG(*components(), progress=False, **options)


TEXT = "The launch happened in 1969.\n\nThe crew of three trained.\n\nRain and wind filled the log."


def test_engine_ranks_with_another_searcher():
    engine = make_engine().memorize(TEXT)
    hits = engine.rank("launch", Clues(["crew of three"]), k=2, searcher=ListSearcher(ITEMS))
    assert [h.item for h in hits] == ["the launch was in 1969", "the crew of three"]


def test_engine_checks_k_and_token_limits():
    engine = make_engine().memorize(TEXT)
    for bad in (0, -5, "3"):
        with pytest.raises(InvalidInputError, match="k must be a positive integer"):
            engine.retrieve("launch", k=bad, clues=Clues())
    with pytest.raises(InvalidInputError, match="max_new_tokens"):
        engine.answer("When?", max_new_tokens=-1)
    with pytest.raises(InvalidInputError, match="k must be"):
        make_engine(k=0)


def test_engine_without_its_own_index_refuses_to_search_and_saves_its_chunks_without_vectors(tmp_path):
    engine = make_engine().memorize([Document(TEXT, "log")], index=False)
    assert not engine.retriever.chunks and engine.memory.is_ready
    chunks = engine.chunks()
    assert chunks and all(TEXT[c.start:c.end] == c.text for c in chunks)
    assert chunks == engine.retriever.chunker.chunk(engine.documents)
    with pytest.raises(InvalidInputError, match="outside vector store"):
        engine.retrieve("launch", clues=Clues())
    folder = engine.save(tmp_path / "c")
    assert not (folder / "index.faiss").exists() and json.loads((folder / "manifest.json").read_text())["index"] == \
        "outside"
    outside = MemoRAG.load(folder, *components(), index=False)  # for an adapter that refills its store
    assert not outside.indexed and outside.chunks() == chunks
    indexed = MemoRAG.load(folder, *components())  # on its own: the chunks are embedded again
    assert indexed.indexed and indexed.retriever.chunks == chunks
    assert indexed.retrieve("launch", clues=Clues())


def test_chunker_fits_the_embedder_and_numbers_chunks():
    chunker = Chunker.for_embedder(HashEmbedder(), chunk_tokens=500, chunk_overlap=100)
    assert chunker.chunk_tokens == HashEmbedder.max_tokens - 2 and chunker.chunk_overlap == chunker.chunk_tokens // 2
    docs = [Document("one two three four five", "a"), Document("six seven", "b")]
    small = Chunker(regex_offsets, 2, 0)
    chunks = small.chunk(docs, first_id=10)
    assert [(c.chunk_id, c.doc_id, c.text) for c in chunks] == [
        (10, "a", "one two"), (11, "a", "three four"), (12, "a", "five"), (13, "b", "six seven")]
    assert small.config() == {"chunk_tokens": 2, "chunk_overlap": 0}
