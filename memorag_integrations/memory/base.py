"""The memory seam: a model that has read the whole corpus and answers instructions from it."""

from __future__ import annotations

import asyncio
import copy
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from memorag_integrations.aio import iterate_in_thread
from memorag_integrations.defaults import GIST_CHUNK_TOKENS, GIST_TOKENS, memory_budget
from memorag_integrations.errors import NotMemorizedError
from memorag_integrations.llm.base import Message, TextGenerator
from memorag_integrations.memory.gist import Compressor, Gist, join_sections, resolve_gisting, truncate
from memorag_integrations.progress import Bar, Progress
from memorag_integrations.prompts import PromptSet, detect_language, get_prompts
from memorag_integrations.schema import Document


#: Tokens of an instruction's own words and chat markup around the query (the longest prompt's).
INSTRUCTION_TOKENS = 160
#: Parts of a memory (see :meth:`Memory.part`) kept read, the most recently used ones.
PARTS_KEPT = 4


class Memory(ABC):
    """Global memory of a corpus.

    :meth:`memorize` reads the documents once; :meth:`generate` answers an instruction from that
    memory without changing it, so queries are independent of each other and of their order.

    Every kind shares what is done here: the corpus language picks the prompts, and a corpus over
    ``max_memory_tokens`` (default: the model's window less room for the answer) is compressed
    into gists by a :class:`~memorag_integrations.memory.gist.Compressor`. A kind holds the
    resulting context its own way (:meth:`_read`): as a KV cache, a prompt prefix, beacons.
    """

    kind: str = "abstract"
    #: Whether a long corpus is gisted to fit the budget (a beacon model compresses by itself).
    compresses: bool = True

    def __init__(self, generator: TextGenerator, *, max_memory_tokens: int | None = None,
                 gist_chunk_tokens: int = GIST_CHUNK_TOKENS, gist_tokens: int = GIST_TOKENS,
                 batch_size: int = 4, gisting: str = "auto") -> None:
        self.generator = generator
        self.max_memory_tokens = memory_budget(generator.context_window, max_memory_tokens)
        self.compressor = Compressor(generator, gist_chunk_tokens, gist_tokens, batch_size,
                                     gisting=resolve_gisting(gisting, generator))
        self.context: str | None = None  # the text the memory holds: the corpus or its gists
        self.gists: list[Gist] = []
        self.language = "en"
        self._context_tokens: int | None = None
        self._forget_parts()

    @property
    def identity(self) -> str:
        return self.generator.identity

    @property
    def is_ready(self) -> bool:
        return self.context is not None

    def _require_ready(self) -> None:
        if not self.is_ready:
            raise NotMemorizedError("nothing is memorized yet: call memorize(...) or MemoRAG.load(dir) first")

    def memory_tokens(self) -> int:
        """Tokens of the model's window the memory takes (its context, counted once)."""
        if self._context_tokens is None:
            self._context_tokens = self.generator.count_tokens(self.context or "")
        return self._context_tokens

    def query_room(self, reserve: int) -> int:
        """Tokens a query may take beside the memory, the instruction around it and ``reserve``
        tokens of output, in the model's window."""
        return self.generator.context_window - self.memory_tokens() - reserve - INSTRUCTION_TOKENS

    @property
    def prompts(self) -> PromptSet:
        """The prompt set of the corpus's language."""
        return get_prompts(self.language)

    def _messages(self) -> list[Message]:
        """The memory as chat messages: the context, and the model's acknowledgement of it."""
        prompts = self.prompts
        return [
            {"role": "user", "content": prompts.context.format(context=self.context)},
            {"role": "assistant", "content": prompts.ack},
        ]

    def _prefix_prompt(self, render: Callable[..., str]) -> str:
        """The memory messages as the model reads them once (``render``: the model's chat template)."""
        return render(self._messages(), generation_prompt=False)

    def _instruction_suffix(self, render: Callable[..., str], prefix: str, instruction: str) -> str:
        """What ``instruction`` adds after the already-read ``prefix``, in the model's chat template."""
        full = render([*self._messages(), {"role": "user", "content": instruction}])
        if not full.startswith(prefix):
            raise RuntimeError("the chat template does not extend the memory prefix; use PromptMemory instead")
        return full[len(prefix):]

    # -- reading ---------------------------------------------------------------------------------
    def memorize(self, documents: Sequence[Document], *, progress: Progress = True) -> None:
        """Read ``documents`` (all of them: memorizing replaces what was held before)."""
        self.language = detect_language(" ".join(d.text[:2000] for d in documents))
        self._context_tokens = None
        self._forget_parts()
        if self.compresses:
            self.context, self.gists = self.compressor.build_context(
                documents, self.prompts, self.max_memory_tokens, progress=progress)
        else:
            self.context, self.gists = join_sections([(d.doc_id, d.text) for d in documents]), []
        bar = Bar(progress, "reading into memory", 1, unit="pass")
        self._read()
        bar.update(1)
        bar.close()

    # -- parts -----------------------------------------------------------------------------------
    def part(self, documents: Sequence[Document]) -> Memory:
        """This memory narrowed to ``documents`` (some of the memorized corpus, in corpus order):
        their own text when it fits the memory budget, else their own gists. It is read once and
        kept (the :data:`PARTS_KEPT` last used), so more queries over the same documents reuse it.
        """
        self._require_ready()
        key = tuple(d.doc_id for d in documents)  # parts are forgotten when the corpus changes
        with self._parts_lock:
            if key in self._parts:
                self._parts.move_to_end(key)
                return self._parts[key]
        part = copy.copy(self)  # shares the model; holds its own context and cache
        part._forget_parts()
        part._context_tokens = None
        part.context, part.gists = self._part_context(documents)
        part._read()
        with self._parts_lock:
            self._parts[key] = part
            while len(self._parts) > PARTS_KEPT:
                self._parts.popitem(last=False)
        return part

    def _part_context(self, documents: Sequence[Document]) -> tuple[str, list[Gist]]:
        verbatim = join_sections([(d.doc_id, d.text) for d in documents])
        if not self.compresses or not self.gists or self.generator.count_tokens(verbatim) <= self.max_memory_tokens:
            return verbatim, []
        ids = {d.doc_id for d in documents}
        gists = [g for g in self.gists if g.covers(ids)]
        return truncate(join_sections([(g.doc_id, g.gist) for g in gists]), self.generator,
                        self.max_memory_tokens), gists

    def _forget_parts(self) -> None:
        self._parts: OrderedDict[tuple[str | None, ...], Memory] = OrderedDict()
        self._parts_lock = threading.Lock()

    def _read(self) -> None:  # noqa: B027 (a hook: most kinds override it, a prompt memory needs nothing)
        """Take in :attr:`context` (a KV cache, beacons...); a prompt memory has nothing to do."""

    # -- answering -------------------------------------------------------------------------------
    @abstractmethod
    def generate(self, instruction: str, max_new_tokens: int = 256) -> str:
        """Answer ``instruction`` from the memory."""

    def generate_many(self, calls: Sequence[tuple[str, int]]) -> list[str]:
        """Answers to several ``(instruction, max_new_tokens)`` calls from the memory, as
        :meth:`generate` gives each. A local kind decodes them together after its one read prefix
        (one pass per step for all of them); this default makes the calls one after another."""
        return [self.generate(instruction, n) for instruction, n in calls]

    async def agenerate_many(self, calls: Sequence[tuple[str, int]]) -> list[str]:
        """Async :meth:`generate_many`; a local model decodes in a worker thread."""
        return await asyncio.to_thread(self.generate_many, calls)

    def stream(self, instruction: str, max_new_tokens: int = 256) -> Iterator[str]:
        yield self.generate(instruction, max_new_tokens)

    def continuation_logprobs(self, instructions: Sequence[str], continuation: str) -> list[float]:
        """The summed log-probability of ``continuation`` as the memory's reply to each instruction
        (the model must score text: :meth:`TextGenerator.continuation_logprobs`). This default reads
        the memory again for every instruction; a KV memory continues its one read prefix."""
        self._require_ready()
        return self.generator.continuation_logprobs(
            [[*self._messages(), {"role": "user", "content": i}] for i in instructions], continuation)

    async def agenerate(self, instruction: str, max_new_tokens: int = 256) -> str:
        return await asyncio.to_thread(self.generate, instruction, max_new_tokens)

    def astream(self, instruction: str, max_new_tokens: int = 256) -> AsyncIterator[str]:
        """Async :meth:`stream`; a local model's pieces are pulled in a worker thread."""
        return iterate_in_thread(self.stream(instruction, max_new_tokens))

    # -- saving ----------------------------------------------------------------------------------
    def state(self, *, cache: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(tensors, meta)`` to save: tensors go to safetensors, meta to JSON. ``cache=False``:
        the text alone (no tensors); :meth:`load_state` then reads it again."""
        self._require_ready()
        meta = {"context": self.context, "gists": [g.to_dict() for g in self.gists], "language": self.language}
        return (self._cache_state(meta) if cache else {}), meta

    def _cache_state(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The tensors of the memory's cache (a plain memory keeps none), adding to ``meta`` what
        reading them back needs."""
        return {}

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self._context_tokens = None
        self._forget_parts()
        self.context = meta["context"]
        self.gists = [Gist.from_dict(g) for g in meta.get("gists", [])]
        self.language = meta.get("language", "en")

    def config(self) -> dict[str, Any]:
        """Settings that change what is memorized; recorded in the manifest and checked on load."""
        config: dict[str, Any] = {"kind": self.kind, "model": self.identity}
        if self.compresses:
            config.update(max_memory_tokens=self.max_memory_tokens, gist_chunk_tokens=self.compressor.chunk_tokens,
                          gist_tokens=self.compressor.gist_tokens)
            config["gisting"] = self.compressor.gisting
        return config

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.identity!r}, ready={self.is_ready})"
