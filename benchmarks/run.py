"""Run the benchmark suites on the real data: one command per suite, or ``all``.

    python -m benchmarks.run {all,hotpot,legal,review,needle,nqopen,speed} [--quick]
        [--split dev|heldout] [--data DIR] [--model smollm2|qwen0.5b|qwen1.5b] [--methods dense memorag ...]

Results go to ``benchmarks/results/`` as JSON, Markdown and PNG. Memorized corpora are cached
through ``MemoRAG.save``/``load`` under the user cache, keyed on model, corpus and settings, so a
second run only pays for the queries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import data as datasets
from benchmarks import metrics
from benchmarks.methods import (ABLATION_METHODS, ALL_METHODS, DEFAULT_METHODS, RETRIEVAL_FREE, Methods, needs_memory,
                                recorded_clues)
from memorag_integrations import defaults
from memorag_integrations.llm.onnx_scoring import OnnxScorer

SUITES = ("multihoprag", "hotpot", "legal", "review", "needle", "nqopen", "speed")
#: Suites run only when named, for routing over many documents: the hotpot pool as 975 documents,
#: and the 2,600 NQ-open passages memorized as one corpus (``nqopen`` searches them without a memory).
EXTRA_SUITES = ("hotpotdocs", "nqopendocs")
RESULTS = Path(__file__).resolve().parent / "results"
logger = logging.getLogger("benchmarks")


@dataclass
class Settings:
    """Everything that shapes a run; memory/chunk settings also key the corpus cache."""

    quick: bool = True
    split: str = "dev"
    model: str = "smollm2"
    methods: tuple[str, ...] = DEFAULT_METHODS
    k: int = 5  # evidence budget (chunks) given to the answering model, the same for every method
    depth: int = 10  # chunks ranked per method, for recall@1..10
    expand_tokens: int = defaults.CLUE_TOKENS  # the memory's clue budget: the engine's own default
    answer_tokens: int = 24
    answers: bool = True
    extractive: bool = False  # also answer each method's evidence by quoting it ("<method>:extractive")
    chunk_tokens: int = 200
    chunk_overlap: int = 24
    max_memory_tokens: int = 4096
    gist_chunk_tokens: int = 1536
    gist_tokens: int = 64
    int8: bool = False  # the embedded model with int8 linear layers (TransformersGenerator(int8=True))
    gisting: str = "auto"  # the memory's: auto extracts for the embedded model, generates for a preset
    scoring: str = "auto"  # how the embedded model scores passages: auto (the library's choice), onnx,
    # openvino (bfloat16 where native) or torch
    rerank_sentences: int | None = defaults.RERANK_SENTENCES  # sentences of a candidate the reranker reads
    clues_from: str | None = None  # FILE:METHOD: replay the clues that run's memory wrote (--clues-from)
    reranker: str | None = None  # the model that scores the reranker's candidates (None: the run's model)
    sizes: dict[str, Any] = field(default_factory=dict)

    def memory_key(self) -> dict[str, Any]:
        key = {"model": self.model, "chunk_tokens": self.chunk_tokens, "chunk_overlap": self.chunk_overlap,
               "max_memory_tokens": self.max_memory_tokens, "gist_chunk_tokens": self.gist_chunk_tokens,
               "gist_tokens": self.gist_tokens}
        # Runs from before these settings existed keep their cached corpora and scores.
        if self.int8 and self.model == "smollm2":
            key["int8"] = True
        if self.gisting_used() == "extract":
            key["gisting"] = "extract"
        if self.scoring_used() != "torch":
            key["scoring"] = self.scoring_used()
        if self.scoring_used() == "openvino":  # bfloat16 scores change with how the rows are read
            key["scoring"] = f"openvino-{OnnxScorer.READING}"
        return key

    def scoring_used(self, model: str | None = None) -> str:
        """How ``model`` (default: the run's) scores passages."""
        from memorag_integrations.llm.onnx_scoring import auto_runtime

        if (model or self.model) != "smollm2" or self.int8 or self.scoring == "torch":
            return "torch"
        if self.scoring in ("onnx", "openvino"):
            return self.scoring
        return {"openvino": "openvino", "onnxruntime": "onnx"}.get(auto_runtime() or "", "torch")

    def gisting_used(self) -> str:
        if self.gisting == "auto":
            return "extract" if self.model == "smollm2" else "generate"
        return self.gisting


# Subset sizes. Quick fits in about 10 minutes on a 2-core CPU (answers only where they are the point)
# and is a smoke test. Full is sized so that a paired difference between two methods can show: every
# hotpot question of the split over the whole 975-paragraph pool, the six shortest contracts of the
# split with all their questions, four review collections with six questions each, the 6k- and
# 25k-word needle haystacks at every depth. Evidence is what these runs score, so hotpot and legal
# generate no answers (review has no evidence gold: its answers are the measure). "answers": False
# turns answer generation off for that suite.
QUICK = {"multihoprag": {"limit": 4, "answers": False},
         "hotpot": {"limit": 4, "distractors": 40},
         "hotpotdocs": {"limit": 4, "distractors": 40, "paragraphs": True},
         "legal": {"docs": 1, "per_doc": 2, "shortest": True, "answers": False},
         "review": {"docs": 1, "per_doc": 1}, "needle": {"max_words": 7000, "depths": (0.0,)},
         "nqopen": {"limit": 300}, "nqopendocs": {"limit": 4, "answers": False}}
FULL = {"multihoprag": {"limit": None},
        "hotpot": {"limit": None, "distractors": None, "answers": False},
        "hotpotdocs": {"limit": None, "distractors": None, "paragraphs": True, "answers": False},
        "legal": {"docs": 6, "per_doc": None, "shortest": True, "answers": False},
        "review": {"docs": 4, "per_doc": 6},
        "needle": {"max_words": 30_000, "depths": None},
        "nqopen": {"limit": None}, "nqopendocs": {"limit": 50, "answers": False}}


# -- models and engines -------------------------------------------------------------------------------
# The Qwen presets were trained on 32k tokens: a 16k context lets their memory read a 12k-token corpus
# verbatim (SmolLM2's 8k window keeps the 4k budget), so short corpora are not gisted at all.
PRESET_CONTEXT, PRESET_MEMORY_TOKENS = 16384, 12288

class Models:
    """The generator and embedder, loaded once per run and shared by every corpus."""

    def __init__(self, settings: Settings) -> None:
        from memorag_integrations.retrieval.embedders import SentenceTransformerEmbedder

        self.settings = settings
        self.embedder = SentenceTransformerEmbedder()
        self.generator = load_generator(settings.model, int8=settings.int8, scoring=settings.scoring_used())
        self.scorer = None  # the reranker's own model, when it is not the generator
        if settings.reranker and settings.reranker != settings.model:
            self.scorer = load_generator(settings.reranker, int8=settings.int8,
                                         scoring=settings.scoring_used(settings.reranker))

    def memory(self):
        s = self.settings
        options = {"max_memory_tokens": s.max_memory_tokens, "gist_chunk_tokens": s.gist_chunk_tokens,
                   "gist_tokens": s.gist_tokens, "gisting": s.gisting_used()}
        from memorag_integrations.llm.transformers import TransformersGenerator

        if isinstance(self.generator, TransformersGenerator):
            from memorag_integrations.memory.kv import KVMemory

            return KVMemory(self.generator, **options)
        from memorag_integrations.memory.llamacpp import LlamaCppKVMemory  # the same context, its own KV prefix

        return LlamaCppKVMemory(self.generator, **options)

    def retriever(self):
        from memorag_integrations.retrieval.retriever import DenseRetriever

        return DenseRetriever(self.embedder, chunk_tokens=self.settings.chunk_tokens,
                              chunk_overlap=self.settings.chunk_overlap)


def load_generator(model: str, *, int8: bool = False, scoring: str = "auto"):
    """The embedded SmolLM2 through transformers (``int8``: with int8 linear layers), or a Qwen
    preset through llama.cpp when the core's llama.cpp backend is installed (transformers otherwise)."""
    from memorag_integrations.llm.transformers import TransformersGenerator

    if model == "smollm2":
        return TransformersGenerator(int8=int8, scoring=scoring)
    from benchmarks.models import preset_gguf

    path = preset_gguf(model)
    try:
        from memorag_integrations.llm.llamacpp import LlamaCppGenerator
    except ImportError:
        logger.warning("llama.cpp backend not available: %s runs through transformers (slow on CPU)", model)
        return TransformersGenerator(path)
    return LlamaCppGenerator(path, n_ctx=PRESET_CONTEXT)


def cache_folder(task: datasets.Task, settings: Settings) -> Path:
    from memorag_integrations.models import cache_dir
    from memorag_integrations.prompts import ENGLISH

    prompts = hashlib.sha256(ENGLISH.memory_fingerprint().encode()).hexdigest()[:12]
    key = json.dumps({**settings.memory_key(), "corpus": task.content_hash(), "prompts": prompts},
                     sort_keys=True)
    return cache_dir() / "bench-corpora" / f"{task.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def engine_for(task: datasets.Task, models: Models, settings: Settings, *, progress: bool = False):
    """The memorized engine of ``task``: loaded from the cache, or memorized and saved there.
    Returns ``(engine, memorize_seconds)``; the seconds are those of the run that memorized it."""
    from memorag_integrations import MemoRAG

    folder = cache_folder(task, settings)
    sidecar = folder.with_suffix(".json")
    if not any(needs_memory(m, replayed=bool(settings.clues_from)) for m in settings.methods):  # the index alone
        engine = MemoRAG(models.memory(), models.retriever(), models.generator, progress=progress)
        engine.retriever.add(task.documents)
        engine.documents = list(task.documents)
        folder.parent.mkdir(parents=True, exist_ok=True)  # for the reranker's record of scores
        return engine, None
    if (folder / "manifest.json").is_file():
        engine = MemoRAG.load(folder, memory=models.memory(), retriever=models.retriever(),
                              generator=models.generator, progress=False)
        seconds = json.loads(sidecar.read_text())["memorize_s"] if sidecar.is_file() else None
        return engine, seconds
    engine = MemoRAG(models.memory(), models.retriever(), models.generator, progress=progress)
    t0 = time.perf_counter()
    engine.memorize(task.documents)
    seconds = time.perf_counter() - t0
    engine.save(folder, overwrite=True)
    sidecar.write_text(json.dumps({"memorize_s": seconds}))
    return engine, seconds


# -- quality suites --------------------------------------------------------------------------------
def spans(chunks) -> list[tuple[str, int, int]]:
    return [(c.doc_id, c.start, c.end) for c in chunks]


def score_question(q: datasets.Question, outcome, answer: str | None, ks: tuple[int, ...], *,
                   ranked: bool) -> dict[str, Any]:
    """One method's record for one question: retrieved spans, recall@k, answer metrics."""
    record: dict[str, Any] = {"retrieval_s": round(outcome.retrieval_s, 3), "model_calls": outcome.model_calls,
                              "queries": outcome.queries}
    if outcome.memory_s is not None:
        record["memory_s"] = round(outcome.memory_s, 3)
    if outcome.note:
        record["note"] = outcome.note
    if ranked:
        got = spans(outcome.chunks)
        record["chunks"] = [list(s) for s in got]
        if "gold_docs" in q.info:  # MultiHop-RAG: facts across articles
            facts = [group[0] for group in q.gold]
            for k in ks:
                record[f"fact_recall@{k}"] = round(metrics.fact_recall(got, facts, k), 4)
            record["all_docs@10"] = metrics.all_docs(got, q.info["gold_docs"], 10)
        elif q.gold:
            for k in ks:
                record[f"recall_any@{k}"] = metrics.recall_any(got, q.gold, k)
                if len(q.gold) > 1:
                    record[f"recall_all@{k}"] = metrics.recall_all(got, q.gold, k)
    if answer is not None:
        record["answer"] = answer
        record["em"] = metrics.exact_match(answer, q.answers)
        record["f1"] = metrics.token_f1(answer, q.answers)
        record["rougeL"] = metrics.rouge_l(answer, q.answers)
        if "gold_docs" in q.info:
            record["contains"] = metrics.answer_contains(answer, q.answers)
    return record


def run_tasks(suite: str, tasks: list[datasets.Task], models: Models, settings: Settings, *,
              answers: bool, ks: tuple[int, ...] = (3, 5, 10), on_question=None,
              done: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Every method on every question of ``tasks``; returns per-question records and the means.
    ``on_question(partial_result)`` is called after each question, so a long run that is stopped
    still leaves its results so far; ``done`` holds such a run's records, whose questions are skipped."""
    questions, corpora = list(done), []
    finished = {r["qid"] for r in done}
    clues = None
    if settings.clues_from:
        path, _, method = settings.clues_from.rpartition(":")
        clues = recorded_clues(Path(path), method)
    for task in tasks:
        if all(q.qid in finished for q in task.questions):
            continue
        engine, memorize_s = engine_for(task, models, settings)
        corpora.append({"task": task.name, "chunks": len(engine.retriever.chunks), "memorize_s": memorize_s,
                        "memory_gists": len(engine.memory.gists)})
        methods = Methods(engine, settings.depth, expand_tokens=settings.expand_tokens,
                          answer_tokens=settings.answer_tokens, rerank_sentences=settings.rerank_sentences,
                          calls=cache_folder(task, settings).with_suffix(".calls.json"), clues=clues,
                          scorer=models.scorer, scorer_name=settings.reranker or "")
        for q in (q for q in task.questions if q.qid not in finished):
            record = {"qid": q.qid, "question": q.question, "answers": q.answers, "info": q.info, "methods": {}}
            for name in settings.methods:
                if name in RETRIEVAL_FREE and not answers:
                    continue
                outcome = methods.run(name, q.question)
                if name in RETRIEVAL_FREE and outcome.answer is None:  # e.g. full context over the window
                    record["methods"][name] = {"note": outcome.note}
                    continue
                text, answer_s, t0 = outcome.answer, None, time.perf_counter()
                if answers and text is None and outcome.chunks:
                    text, answer_s = methods.answer(q.question, outcome.chunks[: settings.k])
                result = score_question(q, outcome, text if answers else None, ks,
                                        ranked=name not in RETRIEVAL_FREE)
                result["answer_s"] = round(time.perf_counter() - t0 if answer_s is None else answer_s, 3)
                record["methods"][name] = result
                if answers and settings.extractive and outcome.chunks and name not in RETRIEVAL_FREE:
                    # The same evidence answered by quoting it: "<method>:extractive".
                    t0 = time.perf_counter()
                    quoted = methods.extractive_answer(q.question, outcome.chunks[: settings.k])
                    extra = score_question(q, outcome, quoted, ks, ranked=True)
                    extra["answer_s"] = round(time.perf_counter() - t0, 3)
                    record["methods"][f"{name}:extractive"] = extra
                logger.info("%s %s %s %s", suite, q.qid, name,
                            {k: v for k, v in result.items() if k.startswith(("recall_any@5", "fact_recall@10", "f1"))})
            questions.append(record)
            if on_question is not None:
                on_question(scored(suite, corpora, questions) | {"partial": True})
    return scored(suite, corpora, questions)


def scored(suite: str, corpora: list[dict[str, Any]], questions: list[dict[str, Any]]) -> dict[str, Any]:
    """A suite's result: its records, their means and the paired comparisons against both baselines."""
    return {"suite": suite, "corpora": corpora, "questions": questions, "summary": summarize(questions),
            "versus_dense": versus(questions), "versus_pipeline": versus_pipeline(questions)}


#: The same pipeline without the memory: dense search and the same reranker, no clues. A memory
#: step counts only where it beats this as well as plain dense.
PIPELINE_BASELINE = "dense_reranked"


def versus_pipeline(questions: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """:func:`versus` against :data:`PIPELINE_BASELINE`, when the run has it."""
    if not any(PIPELINE_BASELINE in r["methods"] for r in questions):
        return {}
    paired = versus(questions, PIPELINE_BASELINE)
    paired.pop("dense", None)
    return {PIPELINE_BASELINE: paired}


# The scores compared question by question against dense retrieval, when a suite has them.
# R@3 both: where a reranker shows, since it reorders what the first ten candidates hold.
PAIRED_FIELDS = ("fact_recall@10", "fact_recall@5", "all_docs@10", "contains",
                 "recall_all@3", "recall_all@5", "recall_any@5", "recall_all@10", "rougeL", "f1")


def versus(questions: list[dict[str, Any]], baseline: str = "dense") -> dict[str, dict[str, dict[str, float]]]:
    """For each method and each of :data:`PAIRED_FIELDS`: its mean difference from ``baseline`` over
    the questions both answered, a paired bootstrap 95% interval, and wins / ties / losses."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    methods = dict.fromkeys(m for r in questions for m in r["methods"] if m != baseline)
    for method in methods:
        for field_name in PAIRED_FIELDS:
            pairs = [(r["methods"][method][field_name], r["methods"][baseline][field_name]) for r in questions
                     if field_name in r["methods"].get(method, {}) and field_name in r["methods"].get(baseline, {})]
            if pairs:
                ours, theirs = zip(*pairs)
                out.setdefault(method, {})[field_name] = metrics.paired_bootstrap(ours, theirs)
    return out


def summarize(questions: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean of every numeric field per method (recall@k, EM, F1, ROUGE-L, seconds)."""
    values: dict[str, dict[str, list[float]]] = {}
    for record in questions:
        for method, result in record["methods"].items():
            for key, value in result.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values.setdefault(method, {}).setdefault(key, []).append(float(value))
    counts = {m: sum(m in r["methods"] for r in questions) for m in values}
    return {m: {k: round(metrics.mean(v), 4) for k, v in fields.items()} | {"n": counts[m]}
            for m, fields in values.items()}


def by_group(result: dict[str, Any], key: str, metric: str = "recall_any@5") -> dict[str, dict[str, float]]:
    """``metric`` per method for each value of ``info[key]`` (needle: haystack length, depth)."""
    table: dict[str, dict[str, list[float]]] = {}
    for record in result["questions"]:
        group = str(record["info"].get(key))
        for method, r in record["methods"].items():
            if metric in r:
                table.setdefault(method, {}).setdefault(group, []).append(r[metric])
    return {m: {g: round(metrics.mean(v), 3) for g, v in groups.items()} for m, groups in table.items()}


def run_nqopen(models: Models, settings: Settings, data: Path) -> dict[str, Any]:
    """Dense retrieval alone over the 2,600 passages: recall@1/5/10 by passage id (a sanity check
    of the index at scale; no memory is built over 2,600 unrelated passages)."""
    from memorag_integrations.models import cache_dir

    task = datasets.load_nqopen(data, settings.split, **settings.sizes["nqopen"])
    retriever = models.retriever()
    key = hashlib.sha256(json.dumps([task.content_hash(), retriever.config()], sort_keys=True).encode()).hexdigest()
    folder = cache_dir() / "bench-corpora" / f"nqopen-index-{key[:12]}"
    t0 = time.perf_counter()
    if (folder / "chunks.jsonl").is_file():
        retriever.load(folder)
    else:
        retriever.add(task.documents)
        folder.mkdir(parents=True, exist_ok=True)
        retriever.save(folder)
    index_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = retriever.search([q.question for q in task.questions], 30)
    search_s = time.perf_counter() - t0
    questions = []
    for q, hits in zip(task.questions, results):
        ids = list(dict.fromkeys(h.item.doc_id for h in hits))
        gold = [doc_id for group in q.gold for doc_id, _, _ in group]
        record = {f"recall@{k}": metrics.recall_by_id(ids, gold, k) for k in (1, 5, 10)}
        questions.append({"qid": q.qid, "question": q.question, "answers": q.answers, "info": {},
                          "methods": {"dense": {**record, "top_ids": ids[:10]}}})
    return {"suite": "nqopen", "corpora": [{"task": task.name, "passages": len(task.documents),
                                            "chunks": len(retriever.chunks), "index_s": round(index_s, 1)}],
            "search_ms_per_query": round(1000 * search_s / max(1, len(questions)), 2),
            "questions": questions, "summary": summarize(questions)}


def load_tasks(suite: str, settings: Settings, data: Path) -> list[datasets.Task]:
    """The corpora and questions of a memory suite at the run's sizes (not nqopen, not speed)."""
    sizes = {k: v for k, v in settings.sizes.get(suite, {}).items() if k != "answers"}
    if suite in ("hotpot", "hotpotdocs"):
        return [datasets.load_hotpot(data, settings.split, **sizes)]
    if suite == "nqopendocs":
        return [datasets.load_nqopen(data, settings.split, **sizes)]
    if suite == "multihoprag":
        return [datasets.load_multihoprag(data, settings.split, **sizes)]
    if suite == "legal":
        return datasets.load_legal(data, settings.split, **sizes)
    if suite == "review":
        return datasets.load_review(data, settings.split, **sizes)
    if suite == "needle":
        return datasets.load_needle(data, **sizes)
    raise ValueError(f"{suite!r} has no memorized corpora")


def run_suite(suite: str, models: Models, settings: Settings, data: Path, on_question=None,
              done: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    if suite == "nqopen":
        return run_nqopen(models, settings, data)
    tasks = load_tasks(suite, settings, data)
    if suite == "review":  # no evidence gold: answers are the only measure
        answers = True
    elif suite == "needle":  # a retrieval probe: recall of the needle span only
        answers = False
    else:  # asking for extractive answers asks for answers, in a suite that skips them by default too
        answers = settings.answers and (settings.extractive or settings.sizes.get(suite, {}).get("answers", True))
    result = run_tasks(suite, tasks, models, settings, answers=answers, on_question=on_question, done=done)
    if suite == "needle":
        result["by_haystack_words"] = by_group(result, "haystack_words")
        result["by_depth"] = by_group(result, "depth")
    return result


def settings_record(settings: Settings, suite: str) -> dict[str, Any]:
    """The settings a result file records (JSON's types, so a saved file compares equal)."""
    record = {k: v for k, v in asdict(settings).items() if k != "sizes"} | {"sizes": settings.sizes.get(suite)}
    return json.loads(json.dumps(record))


def resumed(path: Path, settings: Settings, suite: str) -> dict[str, Any]:
    """The earlier result at ``path`` that ``--resume`` continues: empty when there is none, and an
    error when it was run with other settings (its questions would not compare with new ones)."""
    if not path.is_file():
        return {}
    earlier = json.loads(path.read_text(encoding="utf-8"))
    changed = sorted(k for k, v in settings_record(settings, suite).items() if earlier["settings"].get(k) != v)
    if changed:
        raise SystemExit(f"{path} was run with other settings ({', '.join(changed)}): run it again without "
                         f"--resume, or with --out pointing elsewhere")
    return earlier


def environment() -> dict[str, Any]:
    import torch

    return {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__,
            "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main(argv: list[str] | None = None) -> None:
    from benchmarks.models import MODELS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("suite", choices=("all", *SUITES, *EXTRA_SUITES))
    parser.add_argument("--quick", action="store_true", help="small subsets: minutes instead of about an hour")
    parser.add_argument("--split", choices=datasets.SPLITS, default="dev")
    parser.add_argument("--data", type=Path, default=datasets.DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--model", choices=MODELS, default="smollm2")
    parser.add_argument("--methods", nargs="+", choices=ALL_METHODS, default=list(DEFAULT_METHODS))
    parser.add_argument("--ablation", action="store_true",
                        help="add the ablation variants (each pipeline step alone) to the methods")
    parser.add_argument("--k", type=int, default=defaults.K, help="evidence budget in chunks for the answer")
    parser.add_argument("--no-answers", action="store_true", help="retrieval metrics only (no answer generation)")
    parser.add_argument("--extractive", action="store_true",
                        help="also answer each method's evidence by quoting its best sentences (turns answers on)")
    parser.add_argument("--int8", action="store_true", help="the embedded model with int8 linear layers")
    parser.add_argument("--rerank-sentences", type=int, default=defaults.RERANK_SENTENCES or 0,
                        help="sentences of each candidate the reranker reads, nearest the question (0: all)")
    parser.add_argument("--scoring", choices=("auto", "onnx", "openvino", "torch"), default="auto",
                        help="how the embedded model scores passages (auto: the library's choice, "
                             "see TransformersGenerator)")
    parser.add_argument("--gisting", choices=("auto", "generate", "extract"), default="auto",
                        help="how the memory gists a long corpus (auto: extract with the embedded model)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--clues-from", metavar="FILE:METHOD",
                        help="replay the clues METHOD's memory wrote in the result FILE (e.g. a Qwen preset's run) "
                             "instead of asking this run's memory; this run's model reranks")
    parser.add_argument("--reranker", choices=MODELS,
                        help="the model whose likelihoods rerank (default: --model's), e.g. a preset's memory "
                             "with the embedded model's reranker")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run whose results are in --out: its questions are kept, not asked again")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    methods = tuple(dict.fromkeys([*args.methods, *(ABLATION_METHODS if args.ablation else ())]))
    settings = Settings(quick=args.quick, split=args.split, model=args.model, methods=methods, k=args.k,
                        answers=not args.no_answers, extractive=args.extractive, int8=args.int8, scoring=args.scoring,
                        rerank_sentences=args.rerank_sentences or None,
                        gisting=args.gisting, clues_from=args.clues_from,
                        reranker=args.reranker if args.reranker != args.model else None,
                        sizes=QUICK if args.quick else FULL)
    if not args.quick:
        settings.answer_tokens = 64
    if args.model != "smollm2":
        settings.max_memory_tokens = PRESET_MEMORY_TOKENS
        if not args.quick:  # a preset reads too slowly on a CPU for the whole pool: the split's own half
            settings.sizes = {**FULL, "hotpot": {**FULL["hotpot"], "own_pool": True}}
    # Speed first: its gists of the pool's first 90k tokens then serve the hotpot suite's memory.
    suites = ["speed", *(s for s in SUITES if s != "speed")] if args.suite == "all" else [args.suite]
    from benchmarks import report

    models = None
    for suite in suites:
        t0 = time.perf_counter()
        model = "" if args.model == "smollm2" or suite == "speed" else f"-{args.model}"
        suffix = f"{args.split}{model}{'-quick' if args.quick else ''}"

        earlier = resumed(args.out / f"{suite}-{suffix}.json", settings, suite) if args.resume else {}

        def save(result: dict[str, Any], suite: str = suite, suffix: str = suffix, t0: float = t0,
                 earlier: dict[str, Any] = earlier) -> None:
            result["settings"] = settings_record(settings, suite)
            result["environment"] = environment()
            result["wall_s"] = round(time.perf_counter() - t0 + earlier.get("wall_s", 0), 1)
            redone = {c["task"] for c in result["corpora"]}
            result["corpora"] = [c for c in earlier.get("corpora", []) if c["task"] not in redone] + result["corpora"]
            report.write(result, args.out, tag=f"{suite}-{suffix}")
            report.combine(args.out, suffix)

        if suite == "speed":
            from benchmarks import speed

            save(speed.run(quick=args.quick, data=args.data))
        else:
            models = models or Models(settings)
            save(run_suite(suite, models, settings, args.data, on_question=save, done=earlier.get("questions", [])))
        logger.info("%s done in %.0f s", suite, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
