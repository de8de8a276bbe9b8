"""The MemoRAG engine: memorize a corpus, expand queries into clues, retrieve, answer."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from memorag_integrations.documents import as_documents
from memorag_integrations.errors import (CorruptStoreError, EmptyQueryError, IncompatibleStoreError, InvalidInputError,
                                         NotMemorizedError)
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.memory.base import Memory
from memorag_integrations.prompts import PromptSet, detect_language, format_evidence, get_prompts, parse_items
from memorag_integrations.retrieval.fusion import (DEFAULT_RRF_K, cut_to_budget, query_weights,
                                                   reciprocal_rank_fusion)
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.schema import Answer, Clues, Document, Evidence
from memorag_integrations.store import check_same, check_writable, read_manifest, write_atomically

logger = logging.getLogger(__name__)

Task = Literal["memorag", "qa", "summarize"]
TASKS = ("memorag", "qa", "summarize")
DOCUMENTS_FILE = "documents.jsonl"
MEMORY_META = "memory.json"
MEMORY_TENSORS = "memory.safetensors"


class MemoRAG:
    """Memory-augmented RAG over one or many long documents.

    ``memory`` reads the whole corpus once (default: :class:`~memorag_integrations.memory.kv.KVMemory`
    over the embedded SmolLM2-135M-Instruct); ``retriever`` indexes its chunks (default:
    :class:`DenseRetriever` with the embedded all-MiniLM-L6-v2); ``generator`` writes the final
    answer (default: the memory's own model). Queries never change the engine's state, so one
    engine serves many threads.
    """

    def __init__(
        self,
        memory: Memory | None = None,
        retriever: DenseRetriever | None = None,
        generator: TextGenerator | None = None,
        *,
        k: int = 5,
        token_budget: int | None = None,
        use_draft: bool = False,
        query_weight: float | None = None,
        rrf_k: int = DEFAULT_RRF_K,
        clue_tokens: int = 96,
        answer_tokens: int = 192,
        progress: bool = True,
    ) -> None:
        if memory is None:
            from memorag_integrations.memory.kv import KVMemory

            memory = KVMemory()
        self.memory = memory
        self.retriever = retriever or DenseRetriever()
        self.generator = generator or memory.generator
        self.k = k
        self.token_budget = token_budget
        self.use_draft = use_draft
        self.query_weight = query_weight
        self.rrf_k = rrf_k
        self.clue_tokens = clue_tokens
        self.answer_tokens = answer_tokens
        self.progress = progress
        self.documents: list[Document] = []

    # -- reading ---------------------------------------------------------------------------------
    def memorize(self, inputs: str | Document | Iterable[str | Document], save_dir: str | os.PathLike | None = None,
                 *, overwrite: bool = False) -> MemoRAG:
        """Read ``inputs`` (a text, a :class:`Document`, or many) into memory and index them.

        Replaces anything memorized before; see :meth:`add` to grow a corpus. With ``save_dir`` the
        result is also saved there.
        """
        docs = as_documents(inputs)
        if save_dir is not None:  # fail before the long read, not after it
            check_writable(save_dir, overwrite=overwrite)
        t0 = time.perf_counter()
        self.memory.memorize(docs, progress=self.progress)
        self.retriever.clear()
        self.retriever.add(docs, progress=self.progress)
        self.documents = docs
        logger.info("memorized %d document(s) in %.1f s", len(docs), time.perf_counter() - t0)
        if save_dir is not None:
            self.save(save_dir, overwrite=overwrite)
        return self

    def add(self, inputs: str | Document | Iterable[str | Document]) -> MemoRAG:
        """Add documents to the corpus: new chunks are indexed, and the memory is rebuilt from
        cached gists, so only the new text is read by the model."""
        new = as_documents(inputs, first_id=len(self.documents))
        taken = {d.doc_id for d in self.documents} & {d.doc_id for d in new}
        if taken:
            raise InvalidInputError(f"doc_id(s) {sorted(taken)} already memorized; give new documents other ids")
        docs = self.documents + new
        self.memory.memorize(docs, progress=self.progress)
        self.retriever.add(new, progress=self.progress)
        self.documents = docs
        return self

    # -- querying --------------------------------------------------------------------------------
    def expand(self, query: str) -> Clues:
        """Ask the memory for clue spans, surrogate questions and (if ``use_draft``) a draft answer."""
        query, prompts = self._check_query(query)
        spans = parse_items(self.memory.generate(prompts.clue_spans.format(query=query), self.clue_tokens), exclude=query)
        questions = parse_items(self.memory.generate(prompts.surrogate_questions.format(query=query), self.clue_tokens),
                                exclude=query)
        draft = self.memory.generate(prompts.memory_answer.format(query=query), self.clue_tokens) if self.use_draft else None
        return Clues(spans, questions, draft or None)

    async def aexpand(self, query: str) -> Clues:
        """Async :meth:`expand`; the memory calls run concurrently."""
        query, prompts = self._check_query(query)
        calls = [self.memory.agenerate(prompts.clue_spans.format(query=query), self.clue_tokens),
                 self.memory.agenerate(prompts.surrogate_questions.format(query=query), self.clue_tokens)]
        if self.use_draft:
            calls.append(self.memory.agenerate(prompts.memory_answer.format(query=query), self.clue_tokens))
        outputs = await asyncio.gather(*calls)
        draft = outputs[2] if self.use_draft else None
        return Clues(parse_items(outputs[0], exclude=query), parse_items(outputs[1], exclude=query), draft or None)

    def retrieve(self, query: str, k: int | None = None, clues: Clues | None = None) -> list[Evidence]:
        """Evidence for ``query``: every clue and the query itself search the index, fused by RRF.

        ``clues`` defaults to :meth:`expand` of the query; pass ``Clues()`` for plain dense retrieval.
        """
        if clues is None:
            clues = self.expand(query)
        return self._search(query, clues, k)

    def _search(self, query: str, clues: Clues, k: int | None) -> list[Evidence]:
        k = k or self.k
        queries = list(dict.fromkeys(q for q in [query, *clues.queries()] if q and q.strip()))
        results = self.retriever.search(queries, max(2 * k, 10))
        rankings = [(q, [(c.chunk_id, c, s) for c, s in hits]) for q, hits in zip(queries, results)]
        fused = reciprocal_rank_fusion(rankings, weights=query_weights(queries, query, self.query_weight),
                                       rrf_k=self.rrf_k)
        kept = cut_to_budget(fused, k=k, token_budget=self.token_budget,
                             count_tokens=lambda h: self.generator.count_tokens(h.item.text))
        return [Evidence(h.item.text, h.score, h.item.doc_id, (h.item.start, h.item.end), h.matched_queries,
                         h.item.chunk_id) for h in kept]

    def answer(self, query: str = "", task: Task = "memorag", *, k: int | None = None,
               max_new_tokens: int | None = None) -> Answer:
        """Answer ``query``. Tasks: ``memorag`` (clues -> retrieval -> generator), ``qa`` (the
        memory alone) and ``summarize`` (key points -> retrieval -> summary; query optional)."""
        t0 = time.perf_counter()
        clues, evidence, prompt, timings = self._prepare(query, task, k)
        t1 = time.perf_counter()
        text = self._run(prompt, task, max_new_tokens)
        timings["generate"] = time.perf_counter() - t1
        timings["total"] = time.perf_counter() - t0
        return Answer(text.strip(), evidence, clues, timings, task)

    def stream(self, query: str = "", task: Task = "memorag", *, k: int | None = None,
               max_new_tokens: int | None = None) -> Iterator[str]:
        """Like :meth:`answer`, but yield the answer text piece by piece as it is generated."""
        _, _, prompt, _ = self._prepare(query, task, k)
        n = max_new_tokens or self.answer_tokens
        if task == "qa":
            yield from self.memory.stream(prompt, n)
        else:
            yield from self.generator.stream(prompt, n)

    async def aanswer(self, query: str = "", task: Task = "memorag", *, k: int | None = None,
                      max_new_tokens: int | None = None) -> Answer:
        """Async :meth:`answer`: remote generators are awaited natively, local ones run in threads."""
        t0 = time.perf_counter()
        clues, evidence, prompt, timings = await self._aprepare(query, task, k)
        t1 = time.perf_counter()
        n = max_new_tokens or self.answer_tokens
        if task == "qa":
            text = await self.memory.agenerate(prompt, n)
        else:
            text = await self.generator.agenerate(prompt, n)
        timings["generate"] = time.perf_counter() - t1
        timings["total"] = time.perf_counter() - t0
        return Answer(text.strip(), evidence, clues, timings, task)

    async def astream(self, query: str = "", task: Task = "memorag", *, k: int | None = None,
                      max_new_tokens: int | None = None) -> AsyncIterator[str]:
        """Async :meth:`stream`."""
        _, _, prompt, _ = await self._aprepare(query, task, k)
        n = max_new_tokens or self.answer_tokens
        if task == "qa":
            iterator = self.memory.stream(prompt, n)
            done = object()
            while (piece := await asyncio.to_thread(next, iterator, done)) is not done:
                yield piece  # type: ignore[misc]
        else:
            async for piece in self.generator.astream(prompt, n):
                yield piece

    def summarize(self, *, k: int | None = None, max_new_tokens: int | None = None) -> Answer:
        """A summary of the whole corpus (task ``summarize``)."""
        return self.answer("", "summarize", k=k, max_new_tokens=max_new_tokens)

    def _prepare(self, query: str, task: str, k: int | None):
        """Everything before the final generation: ``(clues, evidence, prompt, timings)``."""
        prompts, query = self._task_prompts(query, task)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if task == "qa":
            return None, [], prompts.memory_answer.format(query=query), timings
        if task == "summarize":
            points = parse_items(self.memory.generate(prompts.key_points, self.answer_tokens))
            clues = Clues(spans=points)
        else:
            clues = self.expand(query)
        timings["expand"] = time.perf_counter() - t0
        return self._finish(query, task, k, clues, prompts, timings)

    async def _aprepare(self, query: str, task: str, k: int | None):
        prompts, query = self._task_prompts(query, task)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if task == "qa":
            return None, [], prompts.memory_answer.format(query=query), timings
        if task == "summarize":
            clues = Clues(spans=parse_items(await self.memory.agenerate(prompts.key_points, self.answer_tokens)))
        else:
            clues = await self.aexpand(query)
        timings["expand"] = time.perf_counter() - t0
        return await asyncio.to_thread(self._finish, query, task, k, clues, prompts, timings)

    def _finish(self, query, task, k, clues, prompts: PromptSet, timings):
        t0 = time.perf_counter()
        evidence = self._search(query, clues, k)
        timings["retrieve"] = time.perf_counter() - t0
        passages = format_evidence([e.text for e in evidence], prompts)
        if task == "summarize":
            prompt = prompts.summary.format(evidence=passages)
            if query:
                prompt += f"\n\n{query}"
        else:
            prompt = prompts.answer.format(evidence=passages, query=query)
        return clues, evidence, prompt, timings

    def _task_prompts(self, query: str, task: str) -> tuple[PromptSet, str]:
        if task not in TASKS:
            raise InvalidInputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
        if task == "summarize":
            self._require_memory()
            query = (query or "").strip()
            return get_prompts(detect_language(query) if query else self.memory.language), query
        query, prompts = self._check_query(query)
        return prompts, query

    def _check_query(self, query: str) -> tuple[str, PromptSet]:
        if not isinstance(query, str) or not query.strip():
            raise EmptyQueryError("the query is empty; ask a question (or use task='summarize')")
        self._require_memory()
        query = query.strip()
        return query, get_prompts(detect_language(query))

    def _require_memory(self) -> None:
        if not self.memory.is_ready:
            raise NotMemorizedError("nothing is memorized yet: call memorize(...) or MemoRAG.load(dir) first")

    def _run(self, prompt: str, task: str, max_new_tokens: int | None) -> str:
        n = max_new_tokens or self.answer_tokens
        return self.memory.generate(prompt, n) if task == "qa" else self.generator.generate(prompt, n)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, *, overwrite: bool = False, include_kv: bool = True) -> Path:
        """Save memory, index and chunks into ``folder`` atomically (see :mod:`memorag_integrations.store`).

        ``include_kv=False`` leaves out a KV memory's cache (much smaller; re-read on load)."""
        self._require_memory()

        def fill(tmp: Path) -> dict[str, Any]:
            write_corpus(tmp, self.documents, self.memory, include_kv=include_kv)
            self.retriever.save(tmp)
            return {"library": _version(), "memory": self.memory.config(), "retriever": self.retriever.config(),
                    "documents": len(self.documents), "content_sha256": content_hash(self.documents)}

        return write_atomically(folder, fill, overwrite=overwrite)

    @classmethod
    def load(cls, folder: str | os.PathLike, memory: Memory | None = None, retriever: DenseRetriever | None = None,
             generator: TextGenerator | None = None, **options: Any) -> MemoRAG:
        """Load a folder written by :meth:`save`.

        Without ``memory``/``retriever`` they are rebuilt from the manifest (the embedded defaults,
        or the hub ids it names). Given ones must match what was saved, or
        :class:`~memorag_integrations.errors.IncompatibleStoreError` names what differs.
        """
        folder = Path(folder)
        manifest = read_manifest(folder)
        saved_memory, saved_retriever = manifest["memory"], manifest["retriever"]
        if memory is None:
            memory = _memory_from_config(saved_memory, generator)
        if retriever is None:
            from memorag_integrations.retrieval.embedders import SentenceTransformerEmbedder

            retriever = DenseRetriever(SentenceTransformerEmbedder(_loadable(saved_retriever["embedder"], "embedder")),
                                       chunk_tokens=saved_retriever["chunk_tokens"],
                                       chunk_overlap=saved_retriever["chunk_overlap"])
        check_same(saved_memory, memory.config(), "memory model or settings", folder)
        check_same(saved_retriever, retriever.config(), "embedder or chunking", folder)
        engine = cls(memory, retriever, generator, **options)
        engine.documents = read_corpus(folder, memory, manifest, remedy="memorize the corpus again")
        try:
            retriever.load(folder)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptStoreError(f"{folder} could not be read ({exc}); memorize the corpus again") from exc
        return engine

    def __repr__(self) -> str:
        return (f"MemoRAG(memory={self.memory!r}, retriever={self.retriever!r}, generator={self.generator!r}, "
                f"k={self.k}, documents={len(self.documents)})")


def write_corpus(folder: Path, documents: list[Document], memory: Memory, *, include_kv: bool = True) -> None:
    """Write the documents and the memory's state into ``folder`` (the index is the caller's)."""
    from safetensors.torch import save_file

    with open(folder / DOCUMENTS_FILE, "w", encoding="utf-8") as fh:
        for d in documents:
            fh.write(json.dumps({"doc_id": d.doc_id, "text": d.text, "metadata": d.metadata}, ensure_ascii=False) + "\n")
    tensors, meta = memory.state()
    (folder / MEMORY_META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    if tensors and include_kv:
        save_file(tensors, str(folder / MEMORY_TENSORS))


def read_corpus(folder: Path, memory: Memory, manifest: dict[str, Any], *, remedy: str) -> list[Document]:
    """The documents saved by :func:`write_corpus`, with ``memory`` restored; checked against the manifest."""
    try:
        with open(folder / DOCUMENTS_FILE, encoding="utf-8") as fh:
            documents = [Document(**json.loads(line)) for line in fh if line.strip()]
        tensors = {}
        if (folder / MEMORY_TENSORS).exists():
            from safetensors.torch import load_file

            tensors = load_file(str(folder / MEMORY_TENSORS))
        memory.load_state(tensors, json.loads((folder / MEMORY_META).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptStoreError(f"{folder} could not be read ({exc}); {remedy}") from exc
    if content_hash(documents) != manifest.get("content_sha256"):
        raise CorruptStoreError(f"{folder}/{DOCUMENTS_FILE} does not match the manifest; {remedy}")
    return documents


def content_hash(documents: list[Document]) -> str:
    h = hashlib.sha256()
    for d in documents:
        h.update(str(d.doc_id).encode("utf-8") + b"\0" + d.text.encode("utf-8") + b"\0")
    return h.hexdigest()


def _loadable(identity: str, what: str) -> str | None:
    from memorag_integrations.models import DEFAULT_EMBEDDER, DEFAULT_LM

    if identity in (DEFAULT_LM, DEFAULT_EMBEDDER):
        return None
    if identity.startswith(("path:", "gguf:", "bge-m3:")) or identity == "unknown":
        raise IncompatibleStoreError(f"the saved {what} is {identity!r}, a local model: pass the same {what} to load()")
    return identity


def _memory_from_config(config: dict[str, Any], generator: TextGenerator | None) -> Memory:
    options = {k: config[k] for k in ("max_memory_tokens", "gist_chunk_tokens", "gist_tokens") if k in config}
    if config["kind"] == "kv" and config.get("backend") == "llamacpp":
        from memorag_integrations.memory.llamacpp import LlamaCppKVMemory

        return LlamaCppKVMemory(_loadable(config["model"], "memory model"), **options)
    if config["kind"] == "kv":
        from memorag_integrations.memory.kv import KVMemory

        return KVMemory(_loadable(config["model"], "memory model"), **options)
    if config["kind"] == "beacon":  # remote code: never loaded without the user's explicit opt-in
        raise IncompatibleStoreError(
            f"the saved memory is a beacon model ({config['model']!r}), which runs remote code: pass "
            f"memory=BeaconMemory({config['model']!r}, trust_remote_code=True, "
            f"beacon_ratio={config.get('beacon_ratio')!r}) to load()")
    if config["kind"] == "prompt" and generator is not None:
        from memorag_integrations.memory.prompt import PromptMemory

        return PromptMemory(generator, **options)
    raise IncompatibleStoreError(f"the saved memory is of kind {config['kind']!r} with model {config['model']!r}: "
                                 "pass memory=... (or generator=... for a prompt memory) to load()")


def _version() -> str:
    from memorag_integrations import __version__

    return __version__
