"""The KV cache saved in half precision or in 8 bits: its size on disk, its clues and its evidence.

Its size against the model's own type, and whether the memory, loaded back, writes the same clues and
retrieves the same evidence.

Memorizes part of the Python Language Reference verbatim (about 3.8k tokens, no gisting) with the
embedded SmolLM2, saves it as it is and with each ``kv_dtype`` (float16, bfloat16, int8), loads each and asks
the same questions. Prints the figures and writes benchmarks/results/kv-dtype.{json,md}.

    python -m benchmarks.kv_dtype

With a suite, the check is a retrieval one at a size that can tell: every question of the suite's
full dev (or ``--split heldout``) set over its memorized corpora (the benchmark cache), the default
pipeline over the memory as it is saved by default (float16) and over the same memory saved in 8
bits; recall@k, the paired difference with a bootstrap interval, and how many questions kept their
clues and their evidence. Writes benchmarks/results/kv-dtype-{suite}[-heldout].{json,md}.

    python -m benchmarks.kv_dtype --suite hotpot
    python -m benchmarks.kv_dtype --suite legal --split heldout
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pydoc_data.topics

from memorag_integrations import Document, MemoRAG
from memorag_integrations.kvcodec import KV_DTYPES
from memorag_integrations.memory.kv import KVMemory

from benchmarks import report

RESULTS = Path(__file__).resolve().parent / "results"
TOPICS = ("for", "while", "break", "continue", "try", "with")
QUESTIONS = ("How do I stop a loop early?", "What does assert do under -O?", "When does the else clause of a loop run?",
             "How are exceptions matched in try?", "What does with do on exit?", "Can continue appear in finally?")


def main() -> dict:
    text = "\n\n".join(f"{t}\n\n{pydoc_data.topics.topics[t]}" for t in TOPICS)
    engine = MemoRAG(KVMemory(), progress=False, clue_tokens=48).memorize(Document(text, "langref"))
    root = Path(tempfile.mkdtemp())
    reference = engine.save(root / "model-dtype")
    base = MemoRAG.load(reference, progress=False, clue_tokens=48)
    expected = {q: base.clues(q) for q in QUESTIONS}
    evidence = {q: [e.char_span for e in base.retrieve(q, clues=expected[q])] for q in QUESTIONS}
    rows = [{"kv_dtype": str(engine.memory.lm.model.dtype).removeprefix("torch."),
             "bytes": (reference / "memory.safetensors").stat().st_size, "same_clues": len(QUESTIONS),
             "same_evidence": len(QUESTIONS)}]
    for dtype in KV_DTYPES:
        folder = engine.save(root / dtype, kv_dtype=dtype)
        loaded = MemoRAG.load(folder, progress=False, clue_tokens=48)
        clues = {q: loaded.clues(q) for q in QUESTIONS}
        rows.append({"kv_dtype": dtype, "bytes": (folder / "memory.safetensors").stat().st_size,
                     "same_clues": sum(clues[q] == expected[q] for q in QUESTIONS),
                     "same_evidence": sum([e.char_span for e in loaded.retrieve(q, clues=clues[q])] == evidence[q]
                                          for q in QUESTIONS)})
    result = {"memory_tokens": engine.memory.prefix_tokens, "questions": len(QUESTIONS), "rows": rows}
    lines = [f"# KV cache on disk ({result['memory_tokens']} memory tokens, {len(QUESTIONS)} questions)", "",
             "| kv_dtype | memory.safetensors MB | share | same clues | same evidence |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['kv_dtype']} | {row['bytes'] / 2**20:.1f} | {row['bytes'] / rows[0]['bytes']:.2f} | "
                     f"{row['same_clues']}/{len(QUESTIONS)} | {row['same_evidence']}/{len(QUESTIONS)} |")
    report.save_figures(result, "\n".join(lines), RESULTS, "kv-dtype")
    return result


def suite_check(suite: str, data: Path, split: str = "dev") -> dict:
    """The default pipeline's evidence over each corpus of ``suite`` with its memory saved in float16
    (the default) and in int8, question by question (memory calls written afresh for both)."""
    from benchmarks import run
    from memorag_integrations.retrieval.rerank import QueryLikelihoodReranker

    from benchmarks.methods import Methods, RecordedScores

    settings = run.Settings(quick=False, split=split, methods=("memorag",), sizes=run.FULL)
    models = run.Models(settings)
    questions, corpora, t0 = [], [], time.perf_counter()
    for task in run.load_tasks(suite, settings, data):
        base, _ = run.engine_for(task, models, settings)
        sizes = {}
        with tempfile.TemporaryDirectory() as root:
            engines = {}
            for dtype in ("float16", "int8"):
                folder = base.save(Path(root) / dtype, kv_dtype=dtype)
                sizes[dtype] = (folder / "memory.safetensors").stat().st_size
                engines[dtype] = MemoRAG.load(folder, memory=models.memory(), retriever=models.retriever(),
                                              generator=models.generator, progress=False)
        doc_tokens = sum(base.generator.count_tokens(d.text) for d in base.documents)
        corpora.append({"task": task.name, "doc_tokens": doc_tokens, "memory_tokens": base.memory.prefix_tokens,
                        "memory_bytes": sizes})
        methods = {dtype: Methods(e, settings.depth, expand_tokens=settings.expand_tokens,
                                  answer_tokens=settings.answer_tokens) for dtype, e in engines.items()}
        # The reranker reads passages, not the memory: one record of its scores serves both (two
        # records of one file would each write back only what they knew).
        scores = RecordedScores(QueryLikelihoodReranker(models.generator),
                                run.cache_folder(task, settings).with_suffix(".calls.scores.json"))
        for m in methods.values():
            m.reranker = scores
        for q in task.questions:
            record: dict = {"qid": q.qid, "question": q.question, "info": q.info, "methods": {}}
            for dtype, m in methods.items():
                outcome = m.run("memorag", q.question)
                record["methods"][dtype] = run.score_question(q, outcome, None, (3, 5, 10), ranked=True)
            same = [record["methods"][d] for d in methods]
            record["same_clues"] = same[0]["queries"] == same[1]["queries"]
            record["same_evidence"] = same[0]["chunks"][:settings.k] == same[1]["chunks"][:settings.k]
            questions.append(record)
            print(q.qid, record["same_clues"], record["same_evidence"],
                  {d: r.get("recall_all@5", r.get("recall_any@5")) for d, r in record["methods"].items()}, flush=True)
    result = {"suite": suite, "split": split, "corpora": corpora, "questions": questions,
              "summary": run.summarize(questions), "versus_float16": run.versus(questions, baseline="float16"),
              "same_clues": sum(r["same_clues"] for r in questions),
              "same_evidence": sum(r["same_evidence"] for r in questions),
              "environment": run.environment(), "wall_s": round(time.perf_counter() - t0, 1)}
    name = f"kv-dtype-{suite}" + ("" if split == "dev" else f"-{split}")
    report.save_figures(result, suite_markdown(result), RESULTS, name)
    return result


def suite_markdown(result: dict) -> str:
    n = len(result["questions"])
    doc_tokens = sum(c["doc_tokens"] for c in result["corpora"])
    lines = [f"# Memory saved in int8 against float16: {result['suite']} {result['split']}, {n} questions, "
             f"{len(result['corpora'])} corpora ({doc_tokens} document tokens), {result['wall_s']:.0f} s", "",
             f"Same clues: {result['same_clues']}/{n}; same top-k evidence: {result['same_evidence']}/{n}.", "",
             "| kv_dtype | memory.safetensors MB (all corpora) | MB per 100k document tokens |",
             "| --- | ---: | ---: |"]
    for dtype in ("float16", "int8"):
        total = sum(c["memory_bytes"][dtype] for c in result["corpora"])
        lines.append(f"| {dtype} | {total / 2**20:.1f} | {total / 2**20 / doc_tokens * 1e5:.1f} |")
    lines += ["", report.table(result["summary"]), "", "int8 against float16 (mean difference, paired bootstrap "
              "95% interval, wins/ties/losses):", "", report.versus_table(result["versus_float16"])]
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> None:
    from benchmarks import data as datasets

    parser = argparse.ArgumentParser(prog="python -m benchmarks.kv_dtype", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("hotpot", "legal"), help="the retrieval check over a whole suite")
    parser.add_argument("--split", choices=datasets.SPLITS, default="dev")
    parser.add_argument("--data", type=Path, default=datasets.DEFAULT_DATA, help="the shared data folder")
    args = parser.parse_args(argv)
    if args.suite:
        suite_check(args.suite, args.data, args.split)
    else:
        main()


if __name__ == "__main__":
    cli()
