"""Speed and size: the model's raw prefill throughput and memorizing's share of it, cached query
latency (expand / retrieve / generate) and time to the first answer token, the same query with the
memory re-read instead of cached, one memory call's first token cached against re-read, what
decoding together saves (gisting four sections in one batch; a query's memory calls in one
request), saved size, load time and peak RSS, per backend.

The document is the hotpot100 corpus pooled into one text and cut to about 10k / 30k / 90k tokens
(quick: 10k only). Each backend reads them as a corpus that grows: the 10k document with an empty,
private gist cache, then the 30k and 90k documents, which start with the smaller ones, with the gists
already computed; their throughput counts only the new text. Gisting is per section, so the rate for
new text is the rate of a fresh read (measured fresh at each size: 162 / 182 / 188 tok/s for
transformers, 131 / 127 / 124 for llama.cpp), and each backend reads 90k tokens once instead of 130k.
Afterwards the gists join the user's gist cache, so the hotpot suite's memory of the whole pool
reuses the sections these documents share with it (``all`` runs this suite first).
`langref_speed.py` beside it measures the same on the Python Language Reference, without the data folder.
"""

from __future__ import annotations

import logging
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks import data as datasets
from benchmarks.report import EXACT_BACKEND

logger = logging.getLogger("benchmarks")
QUICK_SIZES, FULL_SIZES = (10_000,), (10_000, 30_000, 90_000)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def count_gists(folder: Path) -> int:
    """How many gists a gist-cache folder holds (one JSON file each)."""
    return sum(1 for _ in folder.rglob("*.json"))


def share_gists(private: Path) -> int:
    """Copy the gists of ``private`` that the user's gist cache lacks into it; returns how many."""
    from memorag_integrations.memory.gist import GistCache

    shared, copied = GistCache().folder, 0
    for path in private.rglob("*.json"):
        target = shared / path.relative_to(private)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied += 1
    return copied


def cut_to_tokens(text: str, generator, n_tokens: int) -> str:
    """The longest prefix of ``text`` with about ``n_tokens`` tokens of ``generator``, ending at a paragraph."""
    offsets = generator.token_offsets(text[: n_tokens * 8])
    if len(offsets) <= n_tokens:
        return text
    end = offsets[n_tokens - 1][1]
    paragraph = text.rfind("\n\n", 0, end)
    return text[: paragraph if paragraph > end // 2 else end]


class Backend(NamedTuple):
    """One way to run the embedded model: its generator, a factory of new memories over it, and
    the engine's settings (the defaults unless named)."""

    name: str
    generator: Any
    new_memory: Callable[[], Any]
    engine_options: dict[str, Any] = {}


#: The landed path before extracted gists, clue-free queries and ONNX Runtime's scoring became the
#: embedded model's defaults: gists written by the model, clues before every search, torch's scores.
EXACT = EXACT_BACKEND


def backends(*, exact: bool = False) -> list[Backend]:
    """Every installed backend of the embedded model with its defaults; ``exact``: also the exact
    path (:data:`EXACT`), so each figure has its ratio to it in the same run, and the defaults with
    int8 linear layers (an option: it lost evidence on held-out)."""
    from memorag_integrations.llm.transformers import TransformersGenerator
    from memorag_integrations.memory.kv import KVMemory

    found: list[Backend] = []
    lm = TransformersGenerator()
    found.append(Backend("transformers", lm, lambda: KVMemory(lm)))
    if exact:
        exact_lm = TransformersGenerator(scoring="torch")
        found.append(Backend(EXACT, exact_lm, lambda: KVMemory(exact_lm, gisting="generate"), {"write_clues": True}))
        int8_lm = TransformersGenerator(int8=True)
        found.append(Backend("transformers, int8", int8_lm, lambda: KVMemory(int8_lm)))
    try:
        from memorag_integrations.llm.llamacpp import LlamaCppGenerator
        from memorag_integrations.memory.llamacpp import LlamaCppKVMemory
        from memorag_integrations.models import DEFAULT_LM, EMBEDDED
    except ImportError:
        logger.info("llama.cpp backend not installed: transformers only")
        return found
    # By its file, so its gists are keyed apart from transformers' (they are shared into the user's
    # cache afterwards), in the F16 rewrite the embedded default runs from.
    cpp = LlamaCppGenerator(EMBEDDED[DEFAULT_LM].locate(), weights="f16")
    found.append(Backend("llama.cpp", cpp, lambda: LlamaCppKVMemory(cpp)))
    return found


def prefill_rate(generator, text: str, n_tokens: int = 1536) -> float:
    """The model's raw reading speed in tokens/s: one prompt of a gist section's size read with no
    output (the best of two reads). Memorizing cannot beat it; its share of it holds across machines."""
    piece = cut_to_tokens(text, generator, n_tokens)
    if hasattr(generator, "prefill"):  # transformers
        return generator.count_tokens(piece) / best_seconds(lambda: generator.prefill(piece))
    tokens = generator.tokenize(piece)  # llama.cpp

    def read() -> None:
        with generator.lock:
            generator.read_prefix(tokens, owner=None)

    return generator.count_tokens(piece) / best_seconds(read)


def best_seconds(run, times: int = 2) -> float:
    """The shortest of ``times`` timed calls of ``run()``: the least disturbed on a shared machine."""
    seconds = []
    for _ in range(times):
        t0 = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - t0)
    return min(seconds)


def first_piece_s(pieces) -> float:
    """Seconds until an iterator of text yields its first piece (the rest is drained)."""
    t0 = time.perf_counter()
    first = None
    for _ in pieces:
        if first is None:
            first = time.perf_counter() - t0
    return first if first is not None else time.perf_counter() - t0


def rereading_copy(memory):
    """The same memory with no kept cache: its text is sent, and read, with every call."""
    from memorag_integrations.memory.prompt import PromptMemory

    rereading = PromptMemory(memory.generator, max_memory_tokens=memory.max_memory_tokens)
    rereading.load_state({}, memory.state()[1])
    return rereading


def memory_first_token(generator, new_memory, text: str, n_tokens: int = 3900) -> dict[str, Any]:
    """One memory call's first token with a full memory (about ``n_tokens`` of text, held verbatim):
    continuing its cache against reading the memory again with the instruction (what a model without
    a kept cache does on every call)."""
    from memorag_integrations import Document

    memory = new_memory()
    memory.memorize([Document(cut_to_tokens(text, generator, n_tokens), "memory")], progress=False)
    rereading = rereading_copy(memory)
    instruction = memory.prompts.memory_answer.format(query="What is this text about?")
    cached = min(first_piece_s(memory.stream(instruction, 1)) for _ in range(2))
    reread = first_piece_s(rereading.stream(instruction, 1))
    return {"memory_tokens": memory.prefix_tokens, "cached_s": round(cached, 3), "reread_s": round(reread, 3),
            "reuse_ratio": round(reread / cached, 1)}


def parallel_gains(generator, engine, text: str, queries: list[str]) -> dict[str, Any]:
    """What decoding together saves: four gist sections one at a time against one batch, and a
    query's memory calls one at a time against one request (medians over ``queries``)."""
    from memorag_integrations.prompts import ENGLISH
    from memorag_integrations.tasks import get_task

    size = engine.memory.compressor.chunk_tokens
    start, sections = 0, []
    for _ in range(4):
        piece = cut_to_tokens(text[start:], generator, size)
        sections.append(ENGLISH.gist.format(text=piece))
        start += len(piece)
    n = engine.memory.compressor.gist_tokens
    t0 = time.perf_counter()
    for prompt in sections:
        generator.generate(prompt, n)
    alone = time.perf_counter() - t0
    t0 = time.perf_counter()
    generator.generate_batch(sections, n)
    together = time.perf_counter() - t0
    memory, one_by_one, one_call = engine.memory, [], []
    for q in queries:
        calls = engine._memory_calls(get_task("memorag"), q, memory.prompts)
        t0 = time.perf_counter()
        for instruction, budget in calls:
            memory.generate(instruction, budget)
        one_by_one.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        memory.generate_many(calls)
        one_call.append(time.perf_counter() - t0)
    return {"gist_4_sections_alone_s": round(alone, 2), "gist_4_sections_batched_s": round(together, 2),
            "expand_calls_alone_p50_s": round(statistics.median(one_by_one), 2),
            "expand_one_call_p50_s": round(statistics.median(one_call), 2)}


def latencies(engine, queries: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    runs = [engine.answer(q).timings for q in queries]
    for r in runs:  # the answer's step: written, or quoted (the embedded model's default)
        r["generate"] = r.get("generate", r.get("extract", 0.0))
    stages = {s: [r.get(s, 0.0) for r in runs] for s in ("expand", "retrieve", "generate", "total")}
    return ({s: round(statistics.median(v), 3) for s, v in stages.items()},
            {s: round(percentile(v, 0.95), 3) for s, v in stages.items()})


def measure(name: str, generator, new_memory, text: str, queries: list[str], work: Path, *,
            gists: Path | None = None, read_tokens: int = 0, new_tokens: int = 48,
            gains: bool = False, engine_options: dict[str, Any] | None = None,
            first_token_queries: list[str] | None = None,
            unkept_queries: list[str] | None = None) -> dict[str, Any]:
    """Every speed and size figure of one backend on one document; ``new_tokens`` caps each clue
    and answer; ``engine_options`` are the engine's settings (default: its defaults). ``gists`` is
    the gist cache to memorize with (default: a new, empty one in ``work``); when it holds the gists
    of a prefix of ``text`` that has ``read_tokens`` tokens, only the rest is read and the throughput
    counts only that. ``first_token_queries`` time the first answer token (default: ``queries``;
    other questions keep the engine's recent sentence vectors from speeding them); ``unkept_queries``
    time it again without the corpus's sentence vectors embedded ahead. ``gains``: also
    measure what decoding
    together saves (:func:`parallel_gains`)."""
    from memorag_integrations import MemoRAG
    from memorag_integrations.memory.gist import GistCache
    from memorag_integrations.memory.prompt import PromptMemory
    from memorag_integrations.retrieval.retriever import DenseRetriever

    gists = gists or work / "gists"
    memory = new_memory()
    memory.compressor.cache = GistCache(gists)
    cached = count_gists(gists)  # the shorter document's last, partial section is not reused
    retriever = DenseRetriever()
    options = {"progress": False, "clue_tokens": new_tokens, "answer_tokens": new_tokens, **(engine_options or {})}
    engine = MemoRAG(memory, retriever, generator, **options)
    tokens = generator.count_tokens(text)
    prefill = prefill_rate(generator, text)
    t0 = time.perf_counter()
    engine.memorize(text)
    memorize_s = time.perf_counter() - t0
    folder = engine.save(work / "corpus", overwrite=True)  # with its KV cache where the engine keeps it
    # The memory with its cache, in half precision and in 8 bits (``save(kv_dtype="int8")``):
    # llama.cpp's state is its own bytes and stays in the context's KV type, so only a float cache shrinks.
    kv_bytes = folder_size(engine.save(work / "corpus-kv", overwrite=True, include_kv=True))
    int8_bytes = folder_size(engine.save(work / "corpus-int8", overwrite=True, include_kv=True, kv_dtype="int8"))
    folder_bytes = folder_size(folder)
    t0 = time.perf_counter()
    engine = MemoRAG.load(folder, memory=new_memory(), retriever=DenseRetriever(retriever.embedder),
                          generator=generator, **options)
    load_s = time.perf_counter() - t0
    # The loaded memory's first call: a folder saved without the cache reads the memory's text here.
    first_call_s = first_piece_s(engine.memory.stream(engine.memory.prompts.memory_answer.format(query=queries[0]), 1))
    p50, p95 = latencies(engine, queries)
    row = {"backend": name, "model": generator.identity, "document_tokens": tokens,
           "memory_gisting": engine.memory.compressor.gisting, "clues": engine.writes_clues,
           "int8": bool(getattr(generator, "int8", False)),
           "scoring": scorer.runtime if (scorer := getattr(generator, "scorer", None)) is not None else "torch",
           "memory_gists": len(engine.memory.gists), "chunks": len(engine.retriever.chunks),
           "gists_cached": cached, "memorize_new_tokens": tokens - read_tokens,
           "memorize_s": round(memorize_s, 1),
           "memorize_tokens_per_s": round((tokens - read_tokens) / memorize_s, 1),
           "prefill_tokens_per_s": round(prefill, 1),
           "memorize_share_of_prefill": round((tokens - read_tokens) / memorize_s / prefill, 3),
           "saved_folder_mb": round(folder_bytes / 1e6, 2),
           "folder_kb_per_1k_tokens": round(folder_bytes / tokens, 1),
           "kv_folder_kb_per_1k_tokens": round(kv_bytes / tokens, 1),
           "int8_folder_kb_per_1k_tokens": round(int8_bytes / tokens, 1),
           "kv_saved": (folder / "memory.safetensors").is_file(),
           "saved_files_mb": {p.name: round(p.stat().st_size / 1e6, 3) for p in sorted(folder.iterdir())},
           "load_s": round(load_s, 3), "memory_first_call_s": round(first_call_s, 3), "queries": len(queries),
           "latency_p50_s": p50, "latency_p95_s": p95}
    row["first_answer_token_p50_s"] = round(statistics.median(first_piece_s(engine.stream(q))
                                                              for q in first_token_queries or queries), 3)
    if unkept_queries:  # as a folder saved before the corpus's sentence vectors were kept: embedded per query
        engine._sentence_vectors.forget_kept()
        row["first_answer_token_unkept_p50_s"] = round(statistics.median(first_piece_s(engine.stream(q))
                                                                         for q in unkept_queries), 3)
    if not isinstance(engine.memory, PromptMemory):
        # The same queries with no cached memory: the memory text is sent (and read) on every call.
        rereading = rereading_copy(engine.memory)
        uncached = MemoRAG(rereading, engine.retriever, generator, **options)
        row["uncached_p50_s"], row["uncached_p95_s"] = latencies(uncached, queries)
        # One memory call's first token: continuing the cached memory against reading it again.
        instruction = engine.memory.prompts.memory_answer.format(query=queries[0])
        cached_s = first_piece_s(engine.memory.stream(instruction, 1))
        reread_s = first_piece_s(rereading.stream(instruction, 1))
        row["memory_first_token_s"] = {"cached": round(cached_s, 3), "reread": round(reread_s, 3),
                                       "memory_tokens": engine.memory.prefix_tokens,
                                       "reuse_ratio": round(reread_s / cached_s, 1)}
    if gains:
        row["parallel"] = parallel_gains(generator, engine, text, queries)
    row["peak_rss_mb"] = round(peak_rss_mb(), 1)
    logger.info("speed %s", row)
    return row


def run(*, quick: bool, data: Path) -> dict[str, Any]:
    hotpot = datasets.load_hotpot(data, "dev")
    text = hotpot.documents[0].text
    queries = [q.question for q in hotpot.questions[:3]]
    # For the first token: questions not yet seen by the engine, nine for a steady median.
    others = [q.question for q in hotpot.questions[3:12]]
    unkept = [q.question for q in hotpot.questions[12:15]]
    rows, documents, reuse = [], {}, []
    for name, generator, new_memory, engine_options in backends(exact=True):
        with tempfile.TemporaryDirectory(prefix="memorag-speed-gists-") as gists:
            read_tokens = 0  # of the previous, shorter document, whose gists are in ``gists``
            for size in QUICK_SIZES if quick else FULL_SIZES:
                if size not in documents:  # cut once, with the first backend's tokenizer: every backend reads it
                    documents[size] = cut_to_tokens(text, generator, size)
                with tempfile.TemporaryDirectory(prefix="memorag-speed-") as tmp:
                    row = measure(name, generator, new_memory, documents[size], queries, Path(tmp),
                                  gists=Path(gists), read_tokens=read_tokens, gains=read_tokens == 0,
                                  engine_options=engine_options, first_token_queries=others,
                                  unkept_queries=unkept)
                rows.append(row)
                read_tokens = row["document_tokens"]
            logger.info("%d new gists shared with the user's gist cache", share_gists(Path(gists)))
        reuse.append({"backend": name, **memory_first_token(generator, new_memory, text)})
        logger.info("reuse %s", reuse[-1])
    return {"suite": "speed", "runs": rows, "memory_first_token": reuse}
