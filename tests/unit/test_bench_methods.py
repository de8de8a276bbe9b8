"""Benchmark methods over one engine: every method ranks the SAME chunks within the same budget.

The engine here runs on deterministic stand-ins (ScriptedGenerator, HashEmbedder) so the logic is
checked fast; the peers are the real LangChain MultiQueryRetriever and LlamaIndex
QueryFusionRetriever / HyDEQueryTransform. Real-model runs are the benchmark itself.
"""

import hashlib
import json

import pytest
from fakes import HashEmbedder, ScoringGenerator


from benchmarks import run as bench_run  # noqa: E402
from benchmarks.data import Question, Task  # noqa: E402
from benchmarks.methods import ALL_METHODS, DEFAULT_METHODS, ROUNDS, VARIANTS, Methods  # noqa: E402
from memorag_integrations import Document, MemoRAG  # noqa: E402
from memorag_integrations.schema import Clues  # noqa: E402
from memorag_integrations.memory.prompt import PromptMemory  # noqa: E402
from memorag_integrations.retrieval.retriever import DenseRetriever  # noqa: E402

TEXT = "\n\n".join(
    f"Section {i}. "
    + ("The launch happened in 1969 with a crew of three." if i == 7 else f"Filler words about topic {i}.")
    for i in range(20)
)
QUERY = "When did the launch happen?"


class FakeModels:
    """What run_tasks needs from run.Models, built on the stand-ins."""

    def __init__(self, scorer=None) -> None:
        self.generator, self.embedder = ScoringGenerator(), HashEmbedder()
        self.scorer = scorer  # the reranker's own model (run.Models: --reranker)

    def memory(self):
        return PromptMemory(self.generator)

    def retriever(self):
        return DenseRetriever(self.embedder, chunk_tokens=12, chunk_overlap=0)


@pytest.fixture
def engine():
    models = FakeModels()
    return MemoRAG(models.memory(), models.retriever(), models.generator, progress=False).memorize(Document(TEXT, "d"))


@pytest.mark.parametrize("name", [m for m in ALL_METHODS if m not in ("qa", "full")])
def test_every_ranking_method_returns_engine_chunks_within_budget(engine, name):
    methods = Methods(engine, 3, expand_tokens=16, answer_tokens=16)
    outcome = methods.run(name, QUERY)
    ids = [c.chunk_id for c in outcome.chunks]
    assert 1 <= len(ids) <= 3 and len(set(ids)) == len(ids)
    assert all(engine.retriever.chunks[i] == c for i, c in zip(ids, outcome.chunks))
    assert outcome.retrieval_s >= 0
    if VARIANTS.get(name, ("model",))[0] != "none":  # every expanding method shows what its model wrote
        assert outcome.queries and QUERY not in outcome.queries and outcome.model_calls >= 1
    elif name in ROUNDS:  # the memory's round, then the reranker reads the candidates again
        assert outcome.queries == ["who commanded it"] and outcome.model_calls == 3
    else:  # the reranker's scoring is the only model call without clues
        assert outcome.model_calls == (1 if VARIANTS[name][1].rerank else 0)


def test_memorag_uses_the_memory_clues_and_draft(engine):
    methods = Methods(engine, 3, expand_tokens=16, answer_tokens=16)
    plain, drafted = methods.run("memorag", QUERY), methods.run("memorag_draft", QUERY)
    assert "the launch happened in 1969" in plain.queries and "When did the launch happen?" not in plain.queries
    assert drafted.queries == [*plain.queries, "draft: 1969"]
    assert "1969" in plain.chunks[0].text  # the clue finds the one section that holds the fact
    assert methods.run("qa", QUERY).answer == "draft: 1969" and not methods.run("qa", QUERY).chunks
    memory_calls = [c for c in engine.generator.calls if c.startswith(("Question:", "Answer briefly"))]
    assert len(memory_calls) == 3  # clues, surrogate questions and draft written once, shared by three methods


def test_full_context_answers_when_it_fits_and_says_so_when_not(engine):
    methods = Methods(engine, 3, expand_tokens=16, answer_tokens=16)
    assert methods.run("full", QUERY).answer.startswith("ANSWER")
    engine.generator.context_window = 100
    outcome = methods.run("full", QUERY)
    assert outcome.answer is None and outcome.note == "does not fit the window"


def test_run_tasks_scores_every_method_and_caches_the_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMORAG_CACHE_DIR", str(tmp_path / "cache"))
    start = TEXT.index("Section 7.")
    gold = [[("d", start, start + 40)]]
    task = Task("unit", [Document(TEXT, "d")], [Question("q0", QUERY, ["1969"], gold)])
    settings = bench_run.Settings(k=3, depth=5, expand_tokens=16, answer_tokens=16)
    models = FakeModels()
    first = bench_run.run_tasks("unit", [task], models, settings, answers=True)
    folder = bench_run.cache_folder(task, settings)
    assert (folder / "manifest.json").is_file()
    assert json.loads(folder.with_suffix(".json").read_text())["memorize_s"] > 0
    record = first["questions"][0]["methods"]
    assert set(record) == set(DEFAULT_METHODS)
    assert record["memorag"]["recall_any@3"] == 1.0 and "recall_any@3" not in record["qa"]
    assert record["qa"]["answer"] == "draft: 1969" and record["dense"]["answer"].startswith("ANSWER")
    assert first["summary"]["memorag"]["n"] == 1

    def memorize_again(*args, **kwargs):
        raise AssertionError("the cached corpus should have been loaded")

    monkeypatch.setattr(MemoRAG, "memorize", memorize_again)
    written = len(models.generator.calls)
    second = bench_run.run_tasks("unit", [task], models, settings, answers=True)
    assert second["summary"]["memorag"]["recall_any@3"] == first["summary"]["memorag"]["recall_any@3"]
    # The memory's clues were replayed from disk (no memory call ran again), charged their first seconds.
    new = models.generator.calls[written:]
    assert not [c for c in new if c.startswith(("Question:", "Answer briefly"))]
    assert second["questions"][0]["methods"]["memorag"]["queries"] == record["memorag"]["queries"]
    recorded = json.loads(folder.with_suffix(".calls.json").read_text())
    assert len(recorded) == 3 and {"text", "seconds"} <= set(next(iter(recorded.values())))
    assert second["versus_dense"]["memorag"]["recall_any@5"]["n"] == 1


def test_ablation_variants_share_one_expansion_and_differ_only_in_steps(engine):
    methods = Methods(engine, 3, expand_tokens=16, answer_tokens=16)
    outcomes = {name: methods.run(name, QUERY) for name in VARIANTS}
    memory_calls = [c for c in engine.generator.calls if c.startswith(("Question:", "Answer briefly"))]
    rounds = [c for c in memory_calls if "passages do not say" in c]
    assert len(memory_calls) - len(rounds) == 3 and len(rounds) == 1  # the round variant's own call, once
    assert outcomes["memorag_plain"].queries == outcomes["memorag_grounded"].queries == outcomes["memorag"].queries
    assert outcomes["dense_feedback"].queries == [] and outcomes["dense_feedback"].model_calls == 0
    assert outcomes["memorag_reranked"].model_calls == outcomes["memorag_plain"].model_calls + 1
    assert outcomes["memorag_plain_reranked"].model_calls == outcomes["memorag_plain"].model_calls + 1


def test_recorded_scores_score_each_passage_once_and_replay_from_disk(tmp_path):
    from benchmarks.methods import RecordedScores
    from memorag_integrations.retrieval.rerank import Reranker

    class Counting(Reranker):
        def __init__(self):
            self.read = []

        def score(self, query, texts):
            self.read.append(list(texts))
            return [float(len(t)) for t in texts]

    path, inner = tmp_path / "scores.json", Counting()
    recorded = RecordedScores(inner, path)
    assert recorded.score("q", ["aa", "b"]) == [2.0, 1.0]
    assert recorded.score("q", ["b", "ccc", "ccc"]) == [1.0, 3.0, 3.0]
    assert recorded.score("other", ["b"]) == [1.0]
    assert inner.read == [["aa", "b"], ["ccc"], ["b"]]  # a passage is scored once per query
    replay = RecordedScores(Counting(), path)
    assert replay.score("q", ["ccc", "aa"]) == [3.0, 2.0] and replay.reranker.read == []
    charged = [recorded.scores[hashlib.sha256(f"q\0{t}".encode()).hexdigest()]["seconds"] for t in ("ccc", "aa")]
    assert replay.wall == 0 and replay.seconds == pytest.approx(sum(charged))  # charged what they first cost


def test_recorded_calls_run_only_the_new_ones_together_and_replay_from_disk(tmp_path):
    from benchmarks.methods import RecordedCalls

    batches: list[list[tuple[str, int]]] = []

    def generate_many(calls):
        batches.append(list(calls))
        return [f"{instruction}/{n}" for instruction, n in calls]

    path = tmp_path / "calls.json"
    recorded = RecordedCalls(generate_many, path)
    assert recorded("a", 8) == "a/8"
    assert recorded.many([("a", 8), ("b", 8), ("c", 4)]) == ["a/8", "b/8", "c/4"]
    assert batches == [[("a", 8)], [("b", 8), ("c", 4)]]  # the recorded call is not made again
    measured = sum(call["seconds"] for call in recorded.calls.values())
    replay = RecordedCalls(lambda calls: pytest.fail("a recorded call was made again"), path)
    assert replay.many([("c", 4), ("a", 8)]) == ["c/4", "a/8"]
    assert replay("b", 8) == "b/8"
    assert replay.seconds == pytest.approx(measured, abs=1e-6)  # replayed calls are charged what they cost


def test_answers_are_recorded_so_a_resumed_run_answers_only_new_evidence(engine, tmp_path):
    calls = tmp_path / "corpus.calls.json"
    first = Methods(engine, 3, expand_tokens=16, answer_tokens=16, calls=calls)
    chunks = first.run("dense", QUERY).chunks
    text, seconds = first.answer(QUERY, chunks)
    asked = len(engine.generator.calls)
    again = Methods(engine, 3, expand_tokens=16, answer_tokens=16, calls=calls)  # a run started again
    assert again.answer(QUERY, chunks) == (text, seconds)  # replayed, charged what it first took
    assert len(engine.generator.calls) == asked
    again.answer(QUERY, chunks[:1])  # other evidence: a new answer
    assert len(engine.generator.calls) == asked + 1
    assert (tmp_path / "corpus.calls.answers.json").is_file()


def test_a_resumed_run_keeps_the_earlier_questions_and_asks_only_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMORAG_CACHE_DIR", str(tmp_path / "cache"))
    questions = [Question(f"q{i}", f"{QUERY} (asked {i})", ["1969"], []) for i in range(3)]
    task = Task("unit", [Document(TEXT, "d")], questions)
    settings = bench_run.Settings(k=3, depth=5, expand_tokens=16, answer_tokens=16, methods=("dense",))
    earlier = bench_run.run_tasks("unit", [Task("unit", task.documents, questions[:2])], FakeModels(), settings,
                                  answers=True)
    earlier["questions"][0]["methods"]["dense"]["answer"] = "kept as it was"
    models = FakeModels()
    resumed = bench_run.run_tasks("unit", [task], models, settings, answers=True, done=earlier["questions"])
    assert [r["qid"] for r in resumed["questions"]] == ["q0", "q1", "q2"]
    assert resumed["questions"][0]["methods"]["dense"]["answer"] == "kept as it was"
    asked = [q.question for q in questions if any(q.question in c for c in models.generator.calls)]
    assert asked == [questions[2].question]
    assert resumed["summary"]["dense"]["n"] == 3
    # Everything done: the corpus is not even loaded.
    assert bench_run.run_tasks("unit", [task], models, settings, answers=True,
                               done=resumed["questions"])["corpora"] == []


def test_resume_refuses_a_file_run_with_other_settings(tmp_path):
    settings = bench_run.Settings(k=3, methods=("dense",))
    path = tmp_path / "unit-dev.json"
    assert bench_run.resumed(path, settings, "unit") == {}
    path.write_text(json.dumps({"settings": bench_run.settings_record(settings, "unit"), "questions": []}))
    assert bench_run.resumed(path, settings, "unit")["questions"] == []
    with pytest.raises(SystemExit, match=r"other settings \(k, methods\).*without --resume"):
        bench_run.resumed(path, bench_run.Settings(k=5, methods=("dense", "memorag")), "unit")


def test_replayed_clues_rank_without_the_memory_and_match_the_run_that_wrote_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMORAG_CACHE_DIR", str(tmp_path / "cache"))
    start = TEXT.index("Section 7.")
    task = Task("unit", [Document(TEXT, "d")], [Question("q0", QUERY, ["1969"], [[("d", start, start + 40)]])])
    settings = bench_run.Settings(k=3, depth=5, expand_tokens=16, answer_tokens=16,
                                  methods=("memorag_plain", "memorag_reranked"))
    written = bench_run.run_tasks("unit", [task], FakeModels(), settings, answers=False)
    record = written["questions"][0]["methods"]
    assert record["memorag_plain"]["memory_s"] >= 0
    path = tmp_path / "written.json"
    path.write_text(json.dumps(written))

    def memorize(*args, **kwargs):
        raise AssertionError("replayed clues need no memory")

    monkeypatch.setattr(MemoRAG, "memorize", memorize)
    models = FakeModels()
    replay = bench_run.Settings(**{**vars(settings), "clues_from": f"{path}:memorag_plain"})
    again = bench_run.run_tasks("unit", [task], models, replay, answers=False)["questions"][0]["methods"]
    assert not [c for c in models.generator.calls if c.startswith(("Question:", "Answer briefly"))]
    for name in settings.methods:  # the same searches, so the same ranking, charged the recorded seconds
        assert again[name]["queries"] == record[name]["queries"] and again[name]["chunks"] == record[name]["chunks"]
        assert again[name]["memory_s"] == record["memorag_plain"]["memory_s"]
    with pytest.raises(SystemExit, match="holds no question answered by 'qa'"):
        bench_run.run_tasks("unit", [task], models, bench_run.Settings(**{**vars(replay), "clues_from": f"{path}:qa"}),
                            answers=False)
    other = Task("unit", task.documents, [Question("q1", "Who commanded it?", ["x"], [])])
    with pytest.raises(SystemExit, match="did not ask 'Who commanded it\\?'"):
        bench_run.run_tasks("unit", [other], models, replay, answers=False)


class CountingScorer(ScoringGenerator):
    """Counts the passages it scored."""

    scored = 0

    def continuation_logprobs(self, prompts, continuation):
        self.scored += len(prompts)
        return super().continuation_logprobs(prompts, continuation)


def test_another_reranker_model_scores_the_candidates_and_records_its_scores_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMORAG_CACHE_DIR", str(tmp_path / "cache"))
    task = Task("unit", [Document(TEXT, "d")], [Question("q0", QUERY, ["1969"], [])])
    settings = bench_run.Settings(k=3, depth=5, expand_tokens=16, answer_tokens=16, methods=("dense_reranked",))
    bench_run.run_tasks("unit", [task], FakeModels(), settings, answers=False)
    other = FakeModels(scorer=CountingScorer())
    other.generator = CountingScorer()
    bench_run.run_tasks("unit", [task], other, bench_run.Settings(**{**vars(settings), "reranker": "qwen0.5b"}),
                        answers=False)
    assert other.scorer.scored >= 2 and other.generator.scored == 0  # the other model read every candidate
    folder = bench_run.cache_folder(task, settings).parent
    assert len(list(folder.glob("*.qwen0.5b.scores.json"))) == 1 and len(list(folder.glob("*.scores.json"))) == 2


def test_clue_scoped_variants_also_search_each_clue_over_the_source_it_names():
    models = FakeModels()
    docs = [Document(f"{source} reported the launch in 1969 with a crew of three, and more words.", f"d{i}",
                     metadata={"source": source}) for i, source in enumerate(("Wired", "Fortune", "Mashable"))]
    engine = MemoRAG(models.memory(), models.retriever(), models.generator, progress=False).memorize(docs)
    methods = Methods(engine, 3, expand_tokens=16, answer_tokens=16)
    query = "Did Wired report the launch of the crew of three?"
    clues = Clues(spans=["Fortune wrote that the launch happened in 1969 with a crew of three."],
                  surrogate_questions=["When did it launch?"])  # names no source: no scope of its own
    plain = methods._scopes("memorag", query, clues)
    scoped = methods._scopes("memorag_cluescoped", query, clues)
    assert [s.label for s in plain] == ["Wired"]
    assert [s.label for s in scoped] == ["Wired", "Fortune"] and scoped[1].doc_ids == {"d1"}
    assert scoped[1].query.startswith("Fortune wrote")


def test_per_document_moves_a_documents_extra_hits_behind_the_others():
    from benchmarks.methods import per_document
    from memorag_integrations.retrieval.fusion import FusedHit
    from memorag_integrations.schema import Chunk

    hits = [FusedHit(i, Chunk(i, doc, i, i + 1, f"text {i}"), 1.0 / (i + 1)) for i, doc in enumerate("aaabab")]
    assert [(h.item.doc_id, h.item.start) for h in per_document(hits, 2)] == [
        ("a", 0), ("a", 1), ("b", 3), ("b", 5), ("a", 2), ("a", 4)]
    assert per_document(hits, 6) == hits


def test_clue_scoring_fuses_the_questions_ranks_with_each_passages_best_rank_by_a_clue():
    from benchmarks.methods import ClueScored, RecordedScores, ranks
    from memorag_integrations.retrieval.rerank import Reranker

    class ByWord(Reranker):  # a passage scores by how often it holds the query's first word
        def score(self, query, texts):
            return [float(t.split().count(query.split()[0])) for t in texts]

    assert ranks([0.1, 3.0, 2.0]) == [3, 1, 2]
    texts = ["apple apple", "pear", "plum plum"]
    scored = ClueScored(RecordedScores(ByWord(), None), ["pear", "plum"], rrf_k=0)
    # by the question the ranks are 1, 2, 3 (a tie keeps its order); the best by a clue 2, 1, 1
    assert scored.score("apple", texts) == [1 / 1 + 1 / 2, 1 / 2 + 1 / 1, 1 / 3 + 1 / 1]
    assert ClueScored(RecordedScores(ByWord(), None), [], rrf_k=0).score("apple", texts) == [-1.0, -2.0, -3.0]
