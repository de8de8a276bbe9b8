"""How long a change to a memorized corpus takes, against memorizing the changed corpus from nothing.

    python -m benchmarks.corpus_changes [--tokens 100000] [--out benchmarks/results]

Hotpot paragraphs, one document each, up to about ``--tokens`` tokens of the memory model, are
memorized (the embedded SmolLM2 and MiniLM; their gists may come from the cache, where the hotpot
benchmarks left them). Then a 5,000-word essay (the needle haystack's text) is added, one paragraph
is rewritten and another deleted, each timed: text this run has never shown the model (the essay
and the rewrite carry the run's id, the deleted paragraph is drawn by it), so no change finds its
gists cached. Last, the changed corpus is memorized from nothing (an empty gist cache) and compared
with the changed one: the memory's gists, its context, the chunks, and the chunks each of 20
questions finds.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from memorag_integrations import Document, MemoRAG
from memorag_integrations.memory.gist import GistCache

from benchmarks import data as datasets
from benchmarks import report
from benchmarks.run import RESULTS, environment

ESSAY_WORDS = 5000


def corpus(data: Path, tokens: int, count_tokens, run_id: str) -> tuple[list[Document], list[str], Document]:
    """The paragraphs (about ``tokens`` tokens), 20 questions about them, and the essay to add."""
    task = datasets.load_hotpot(data, "dev", paragraphs=True)
    docs, total = [], 0
    for doc in task.documents:
        total += count_tokens(doc.text)
        docs.append(doc)
        if total >= tokens:
            break
    kept = {d.doc_id for d in docs}
    questions = [q.question for q in task.questions if all(span[0][0] in kept for span in q.gold)][:20]
    haystack = datasets.load_needle(data, max_words=30_000)[0].documents[0].text
    essay = Document(f"Notes of run {run_id}. " + " ".join(haystack.split()[:ESSAY_WORDS]), "essay",
                     {"source": "needle haystack"})
    return docs, questions, essay


def engine_with_cache(folder: Path | None) -> MemoRAG:
    """The embedded engine; ``folder``: its own gist cache (None: the shared one)."""
    from memorag_integrations.memory.kv import KVMemory

    memory = KVMemory()
    if folder is not None:
        memory.compressor.cache = GistCache(folder)
    return MemoRAG(memory, progress=False)


def timed(step) -> float:
    t0 = time.perf_counter()
    step()
    return round(time.perf_counter() - t0, 2)


def found(engine: MemoRAG, questions: list[str]) -> list[list[tuple[str, int, int]]]:
    hits = engine.retriever.search(questions, 5)
    return [sorted((h.item.doc_id, h.item.start, h.item.end) for h in row) for row in hits]


def run(data: Path, tokens: int) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    pick = random.Random(run_id)
    with tempfile.TemporaryDirectory() as tmp:
        changed = engine_with_cache(None)
        docs, questions, essay = corpus(data, tokens, changed.memory.generator.count_tokens, run_id)
        count = changed.memory.generator.count_tokens
        corpus_tokens = sum(count(d.text) for d in docs)
        old, gone = pick.sample(docs[1:-1], 2)
        rewritten = Document(old.text + f" It was rewritten in run {run_id}.", old.doc_id, old.metadata)
        deleted = gone.doc_id
        times = {"memorize_s": timed(lambda: changed.memorize(docs))}
        times["add_s"] = timed(lambda: changed.add(essay))
        times["update_s"] = timed(lambda: changed.update(rewritten))
        times["delete_s"] = timed(lambda: changed.delete(deleted))
        scratch = engine_with_cache(Path(tmp) / "gists")
        times["scratch_s"] = timed(lambda: scratch.memorize(changed.documents))
    same_gists = sum(a == b for a, b in zip(changed.memory.gists, scratch.memory.gists))
    spans = sorted((c.doc_id, c.start, c.end) for c in changed.retriever.chunks)
    same_found = sum(a == b for a, b in zip(found(changed, questions), found(scratch, questions)))
    return {
        "documents": len(docs), "corpus_tokens": corpus_tokens, "essay_tokens": count(essay.text),
        **times,
        "add_speedup": round(times["scratch_s"] / max(times["add_s"], 1e-9), 1),
        "update_speedup": round(times["scratch_s"] / max(times["update_s"], 1e-9), 1),
        "delete_speedup": round(times["scratch_s"] / max(times["delete_s"], 1e-9), 1),
        "gists": len(scratch.memory.gists), "same_gists": same_gists,
        "same_context": changed.memory.context == scratch.memory.context,
        "same_documents": changed.documents == scratch.documents,
        "same_chunks": spans == sorted((c.doc_id, c.start, c.end) for c in scratch.retriever.chunks),
        "questions": len(questions), "same_search_results": same_found,
    }


def markdown(result: dict[str, Any]) -> str:
    r = result
    return "\n".join([
        "# A changing corpus: each change against memorizing the changed corpus from nothing", "",
        f"{r['documents']} hotpot paragraphs as documents, {r['corpus_tokens']:,} tokens; the added essay "
        f"{r['essay_tokens']:,} tokens. Embedded SmolLM2-135M (transformers) and MiniLM, "
        f"{r['environment']['cpus']} CPUs, {r['environment']['date']}.", "",
        "| step | seconds | from nothing / step |", "| --- | ---: | ---: |",
        f"| memorize the corpus (gists from the cache where earlier runs left them) | {r['memorize_s']} | |",
        f"| add the essay | {r['add_s']} | {r['add_speedup']}x |",
        f"| rewrite one paragraph | {r['update_s']} | {r['update_speedup']}x |",
        f"| delete one paragraph | {r['delete_s']} | {r['delete_speedup']}x |",
        f"| memorize the changed corpus from nothing | {r['scratch_s']} | 1x |", "",
        f"Changed against from nothing: the same documents {r['same_documents']}, the same chunks "
        f"{r['same_chunks']}, {r['same_gists']} of {r['gists']} gists identical, the same memory context "
        f"{r['same_context']}, the same top-5 chunks for {r['same_search_results']} of {r['questions']} questions.",
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus_changes", description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000, help="corpus size in memory-model tokens")
    parser.add_argument("--data", type=Path, default=datasets.DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = {**run(args.data, args.tokens), "environment": environment()}
    report.save_figures(result, markdown(result), args.out, "corpus-changes")


if __name__ == "__main__":
    main()
