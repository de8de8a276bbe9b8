"""Speed and size of the core on the whole Python Language Reference, with the embedded default.

Measures: memorize time (gists computed afresh: a private, empty gist cache), saved folder size,
load time, and cached `memorag` query latency (p50/p95, split into expand/retrieve/generate).
Prints the figures and writes them to benchmarks/results/langref_speed.json.

    python benchmarks/langref_speed.py [--queries 6]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]

from python_reference import language_reference  # noqa: E402

from benchmarks.speed import folder_size, percentile  # noqa: E402

from memorag_integrations import MemoRAG  # noqa: E402
from memorag_integrations.memory.gist import GistCache  # noqa: E402
from memorag_integrations.memory.kv import KVMemory  # noqa: E402

QUERIES = [
    "How can a class customise what happens when one of its attributes is looked up?",
    "What are the different ways to leave a loop or a function early?",
    "How do Python's scoping rules decide which variable a name refers to?",
    "What happens to an exception raised inside a finally clause?",
    "How are default argument values evaluated?",
    "What does the with statement guarantee?",
    "How does Python compare objects of different types?",
    "When is __init_subclass__ called?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=6)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "langref_speed.json"))
    args = parser.parse_args()

    doc = language_reference()
    work = Path(tempfile.mkdtemp(prefix="memorag-bench-"))
    memory = KVMemory()
    memory.compressor.cache = GistCache(work / "gists")
    engine = MemoRAG(memory, progress=False)
    tokens = memory.lm.count_tokens(doc.text)

    t0 = time.perf_counter()
    engine.memorize(doc)
    memorize_s = time.perf_counter() - t0
    folder = engine.save(work / "corpus")
    t0 = time.perf_counter()
    engine = MemoRAG.load(folder, progress=False)
    load_s = time.perf_counter() - t0

    runs = [engine.answer(q).timings for q in QUERIES[: args.queries]]
    stages = {stage: [r[stage] for r in runs] for stage in ("expand", "retrieve", "generate", "total")}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "document_words": len(doc.text.split()),
        "document_tokens": tokens,
        "gists": len(engine.memory.gists),
        "memory_tokens": engine.memory.prefix_tokens,
        "chunks": len(engine.retriever.chunks),
        "memorize_s": round(memorize_s, 1),
        "memorize_tokens_per_s": round(tokens / memorize_s, 1),
        "saved_folder_mb": round(folder_size(folder) / 1e6, 1),
        "saved_files_mb": {p.name: round(p.stat().st_size / 1e6, 2) for p in sorted(folder.iterdir())},
        "load_s": round(load_s, 2),
        "queries": len(runs),
        "latency_p50_s": {k: round(statistics.median(v), 2) for k, v in stages.items()},
        "latency_p95_s": {k: round(percentile(v, 0.95), 2) for k, v in stages.items()},
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
