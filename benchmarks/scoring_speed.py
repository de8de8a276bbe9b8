"""The reranker's scoring, timed by how it runs the embedded model, on the rows a query reads.

Each of five hotpot dev questions gets the rows the default reranker scores: its 15 best dense
candidates over the speed suite's 10k-token text, each cut to its 3 sentences nearest the question.
Every option scores the same rows; it is timed (best of three, tokens read per second) and held
against float32 torch: the largest score difference and whether all five rankings stay the same.

Both runtimes read the prefix the rows share once (see ``OnnxScorer``), then:

- ONNX Runtime, one unpadded row at a time (the default where OpenVINO is not chosen);
- ONNX Runtime, padded batches of 8;
- OpenVINO, batches of 5 rows of similar length, in bfloat16 where the processor computes it
  (``scoring="openvino"``, the ``openvino`` extra; the default where bfloat16 is native);
- OpenVINO, one row at a time (how it ran before the batches);
- torch float32, padded batches of 8 (the exact path);
- torch bfloat16, only where the processor computes it natively (see ``cpu_options.native_bf16``);
- torch with int8 linear layers (``TransformersGenerator(int8=True)``, an option).

    python -m benchmarks.scoring_speed [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks import data as datasets
from benchmarks import report
from benchmarks.cpu_options import native_bf16
from benchmarks.run import RESULTS, environment
from benchmarks.speed import cut_to_tokens

QUESTIONS, CANDIDATES, SENTENCES, TRIES = 5, 15, 3, 3


def query_rows(data: Path) -> tuple[list[tuple[str, list[str]]], Any]:
    """``(question, prompts)`` for each question, and the float32 torch generator."""
    from memorag_integrations import Clues, MemoRAG
    from memorag_integrations.llm.transformers import TransformersGenerator
    from memorag_integrations.memory.prompt import PromptMemory
    from memorag_integrations.prompts import ENGLISH
    from memorag_integrations.retrieval.rerank import nearest_sentences
    from memorag_integrations.retrieval.retriever import DenseRetriever

    hotpot = datasets.load_hotpot(data, "dev")
    exact = TransformersGenerator(scoring="torch")
    retriever = DenseRetriever()
    engine = MemoRAG(PromptMemory(exact), retriever, exact, rerank=0, progress=False)
    engine.memorize(cut_to_tokens(hotpot.documents[0].text, exact, 10_000))
    rows = []
    for q in hotpot.questions[:QUESTIONS]:
        hits = engine.retrieve(q.question, k=CANDIDATES, clues=Clues())
        passages = nearest_sentences(q.question, [h.text for h in hits], SENTENCES, retriever.embedder.encode)
        rows.append((q.question, [ENGLISH.passage_question.format(text=p) for p in passages]))
    return rows, exact


def options(exact: Any) -> list[tuple[str, Any, int | None]]:
    """``(name, generator, batch_size)``; None: the generator's own batch size."""
    import torch

    from memorag_integrations.llm.onnx_scoring import onnx_available
    from memorag_integrations.llm.transformers import TransformersGenerator

    found: list[tuple[str, Any, int | None]] = [("torch float32, batches of 8 (exact)", exact, 8)]
    if onnx_available():
        onnx = TransformersGenerator(scoring="onnx")
        found += [("ONNX Runtime, one row at a time", onnx, None),
                  ("ONNX Runtime, batches of 8", onnx, 8)]
    if onnx_available("openvino"):
        openvino = TransformersGenerator(scoring="openvino")
        found += [("OpenVINO, batches of 5 (default with native bfloat16)", openvino, None),
                  ("OpenVINO, one row at a time", openvino, 1)]
    if native_bf16():
        found.append(("torch bfloat16, batches of 8", TransformersGenerator(dtype=torch.bfloat16), 8))
    found.append(("torch int8 linear layers, batches of 8", TransformersGenerator(int8=True), 8))
    return found


def measure(rows: list[tuple[str, list[str]]], exact: Any) -> list[dict[str, Any]]:
    tokens = sum(exact.count_tokens(exact.render(p)) + exact.count_tokens(q) for q, prompts in rows for p in prompts)
    reference = [exact.continuation_logprobs(prompts, q, batch_size=8) for q, prompts in rows]
    out = []
    for name, generator, batch in options(exact):
        generator.continuation_logprobs(rows[0][1][:2], rows[0][0])  # warm: an ONNX export, first kernels
        best, scores = float("inf"), []
        for _ in range(TRIES):
            t0 = time.perf_counter()
            scores = [generator.continuation_logprobs(prompts, q, batch_size=batch) for q, prompts in rows]
            best = min(best, time.perf_counter() - t0)
        diff = max(abs(a - b) for ours, theirs in zip(scores, reference) for a, b in zip(ours, theirs))
        same = sum(ranking(ours) == ranking(theirs) for ours, theirs in zip(scores, reference))
        out.append({"option": name, "seconds": round(best, 3), "tokens": tokens,
                    "tokens_per_s": round(tokens / best, 1), "max_score_difference": round(diff, 4),
                    "same_rankings": same, "questions": len(rows)})
    return out


def ranking(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = ["# The reranker's scoring (embedded SmolLM2-135M)", "",
             f"{env['cpus']} CPUs, {env['date']}; {QUESTIONS} hotpot dev questions, each with its {CANDIDATES} "
             f"best dense candidates cut to their {SENTENCES} sentences nearest the question; best of {TRIES}; "
             f"native bfloat16: {'yes' if result['native_bf16'] else 'no'}.", "",
             "| option | seconds (all questions) | tokens/s | against float32 torch | largest score difference "
             "| same rankings |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    base = result["rows"][0]["seconds"]
    for r in result["rows"]:
        lines.append(f"| {r['option']} | {r['seconds']:.2f} | {r['tokens_per_s']:.0f} | {base / r['seconds']:.2f}× "
                     f"| {r['max_score_difference']:.4f} | {r['same_rankings']}/{r['questions']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=datasets.DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows, exact = query_rows(args.data)
    result = {"rows": measure(rows, exact), "native_bf16": native_bf16(), "environment": environment()}
    report.save_figures(result, markdown(result), args.out, "scoring-speed")


if __name__ == "__main__":
    main()
