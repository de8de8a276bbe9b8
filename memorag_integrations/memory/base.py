"""The memory seam: a model that has read the whole corpus and answers instructions from it."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from memorag_integrations.errors import NotMemorizedError
from memorag_integrations.llm.base import Message, TextGenerator
from memorag_integrations.prompts import PromptSet
from memorag_integrations.schema import Document


class Memory(ABC):
    """Global memory of a corpus.

    :meth:`memorize` reads the documents once; :meth:`generate` answers an instruction from that
    memory without changing it, so queries are independent of each other and of their order.
    """

    kind: str = "abstract"

    def __init__(self, generator: TextGenerator) -> None:
        self.generator = generator
        self.context: str | None = None  # the text the memory holds: the corpus or its gists
        self.gists: list[dict[str, Any]] = []
        self.language = "en"

    @property
    def identity(self) -> str:
        return self.generator.identity

    @property
    def is_ready(self) -> bool:
        return self.context is not None

    def _require_ready(self) -> None:
        if not self.is_ready:
            raise NotMemorizedError("nothing is memorized yet: call memorize(...) or MemoRAG.load(dir) first")

    def _messages(self, prompts: PromptSet) -> list[Message]:
        return [
            {"role": "user", "content": prompts.context.format(context=self.context)},
            {"role": "assistant", "content": prompts.ack},
        ]

    @abstractmethod
    def memorize(self, documents: Sequence[Document], *, progress: bool = True) -> None:
        """Read ``documents`` (all of them: memorizing replaces what was held before)."""

    @abstractmethod
    def generate(self, instruction: str, max_new_tokens: int = 256) -> str:
        """Answer ``instruction`` from the memory."""

    def stream(self, instruction: str, max_new_tokens: int = 256) -> Iterator[str]:
        yield self.generate(instruction, max_new_tokens)

    async def agenerate(self, instruction: str, max_new_tokens: int = 256) -> str:
        return await asyncio.to_thread(self.generate, instruction, max_new_tokens)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(tensors, meta)`` to save: tensors go to safetensors, meta to JSON."""
        self._require_ready()
        return {}, {"context": self.context, "gists": self.gists, "language": self.language}

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        self.context = meta["context"]
        self.gists = list(meta.get("gists", []))
        self.language = meta.get("language", "en")

    def config(self) -> dict[str, Any]:
        """Settings that change what is memorized; recorded in the manifest and checked on load."""
        return {"kind": self.kind, "model": self.identity}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.identity!r}, ready={self.is_ready})"
