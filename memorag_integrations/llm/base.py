"""The text-generator seam: anything that turns a prompt into text fits here."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence

from memorag_integrations.aio import iterate_in_thread
from memorag_integrations.errors import UnsupportedError

Message = dict[str, str]
Prompt = str | Sequence[Message]  # a plain user prompt, or chat messages


def as_messages(prompt: Prompt) -> list[Message]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


class TextGenerator(ABC):
    """Generates text from a prompt (a string, or a list of ``{"role", "content"}`` messages).

    Subclasses implement :meth:`generate`; batching, streaming and async have working defaults
    that a backend overrides when it can do better.
    """

    #: A stable string naming the model, written into saved manifests.
    identity: str = "unknown"
    #: Tokens the model can attend to; used to size memory and evidence.
    context_window: int = 4096

    @abstractmethod
    def generate(
        self,
        prompt: Prompt,
        max_new_tokens: int = 256,
        *,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Return the completion of ``prompt`` (greedy when ``temperature`` is 0)."""

    def generate_batch(self, prompts: Sequence[Prompt], max_new_tokens: int = 256) -> list[str]:
        return [self.generate(p, max_new_tokens) for p in prompts]

    def stream(
        self,
        prompt: Prompt,
        max_new_tokens: int = 256,
        *,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Yield the completion in pieces; the default yields it whole."""
        yield self.generate(prompt, max_new_tokens, temperature=temperature, stop=stop)

    async def agenerate(
        self,
        prompt: Prompt,
        max_new_tokens: int = 256,
        *,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Async :meth:`generate`; local backends run it in a worker thread."""
        return await asyncio.to_thread(
            self.generate, prompt, max_new_tokens, temperature=temperature, stop=stop
        )

    async def astream(
        self,
        prompt: Prompt,
        max_new_tokens: int = 256,
        *,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> AsyncIterator[str]:
        """Async :meth:`stream`: pieces are pulled from the sync iterator in a worker thread."""
        async for piece in iterate_in_thread(self.stream(prompt, max_new_tokens, temperature=temperature, stop=stop)):
            yield piece

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuation: str) -> list[float]:
        """For each prompt, the log-probability the model gives ``continuation`` as the start of its
        reply (summed over its tokens). What a :class:`~memorag_integrations.retrieval.rerank.
        QueryLikelihoodReranker` scores passages with; backends that expose token probabilities
        override it."""
        raise UnsupportedError(f"{type(self).__name__} cannot score text; TransformersGenerator can, and so can "
                               "LlamaCppGenerator (pass one to QueryLikelihoodReranker)")

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text``; a rough estimate unless the backend knows its tokenizer."""
        return max(1, len(text) // 4)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identity={self.identity!r})"


def cut_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """Truncate ``text`` at the first stop string."""
    if not stop:
        return text
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=-1)
    return text if cut < 0 else text[:cut]
