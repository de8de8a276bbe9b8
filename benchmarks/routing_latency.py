"""What a query costs as a corpus of many documents grows: the corpus memory against routing.

    python -m benchmarks.routing_latency [--sizes 10 100 975] [--queries 5] [--out benchmarks/results]

The first N hotpot paragraphs, one document each, are memorized (the embedded SmolLM2 and MiniLM;
gists come from the cache where the hotpot benchmarks left them). For each size the same questions
are expanded twice: from the corpus memory (one window: the text, or its gists) and routed to the 8
documents each question finds first (their own text, read per question). Printed and saved: the
memory's tokens, the seconds to memorize, and each way's seconds per question (median and max).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from memorag_integrations import MemoRAG

from benchmarks import data as datasets
from benchmarks import report
from benchmarks.methods import ROUTE
from benchmarks.run import RESULTS, environment


def measure(size: int, questions: list[str], data: Path) -> dict[str, Any]:
    from memorag_integrations.memory.kv import KVMemory

    docs = datasets.load_hotpot(data, "dev", paragraphs=True).documents[:size]
    engine = MemoRAG(KVMemory(), progress=False)
    t0 = time.perf_counter()
    engine.memorize(docs)
    row: dict[str, Any] = {"documents": size, "memorize_s": round(time.perf_counter() - t0, 1),
                           "corpus_tokens": sum(engine.memory.generator.count_tokens(d.text) for d in docs),
                           "memory_tokens": engine.memory.prefix_tokens, "gisted": bool(engine.memory.gists)}
    for name, route in (("corpus", None), ("routed", ROUTE)):
        engine.route = route
        seconds, read = [], []
        for q in questions:
            t = time.perf_counter()
            engine.clues(q)
            seconds.append(time.perf_counter() - t)
            part = engine.memory_for(engine.routed(q))
            read.append(part.prefix_tokens if part is not None else 0)
        row[name] = {"p50_s": round(statistics.median(seconds), 2), "max_s": round(max(seconds), 2),
                     "memory_tokens_read": int(statistics.median(read))}
    return row


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Query cost as a corpus of many documents grows: the corpus memory against routing", "",
             f"Hotpot paragraphs as documents; {result['queries']} dev questions per size; embedded SmolLM2-135M "
             f"(transformers), routed to {result['route']} documents. {result['environment']['cpus']} CPUs, "
             f"{result['environment']['date']}.", "",
             "| documents | corpus tokens | memorize s | corpus memory: tokens, s/q p50 (max) | routed: tokens read, "
             "s/q p50 (max) |", "| ---: | ---: | ---: | --- | --- |"]
    for r in result["sizes"]:
        c, g = r["corpus"], r["routed"]
        lines.append(f"| {r['documents']} | {r['corpus_tokens']:,} | {r['memorize_s']} | {c['memory_tokens_read']:,}, "
                     f"{c['p50_s']} ({c['max_s']}) | {g['memory_tokens_read']:,}, {g['p50_s']} ({g['max_s']}) |")
    lines += ["", "Routing applies only where the corpus had to be gisted; below that both rows read the same "
              "memory.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.routing_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 975])
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--data", type=Path, default=datasets.DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    questions = [q.question for q in datasets.load_hotpot(args.data, "dev", limit=args.queries).questions]
    result = {"sizes": [measure(n, questions, args.data) for n in args.sizes], "queries": len(questions),
              "route": ROUTE, "environment": environment()}
    report.save_figures(result, markdown(result), args.out, "routing-latency")


if __name__ == "__main__":
    main()
