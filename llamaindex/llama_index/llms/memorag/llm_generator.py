"""A core ``TextGenerator`` over any LlamaIndex LLM, so that a LlamaIndex LLM can be the memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.llms import LLM

from memorag_integrations.llm.base import Prompt, TextGenerator, as_messages, cut_at_stop


def to_chat(prompt: Prompt) -> list[ChatMessage]:
    return [ChatMessage(role=m["role"], content=m["content"]) for m in as_messages(prompt)]


class LLMGenerator(TextGenerator):
    """Any LlamaIndex :class:`~llama_index.core.llms.LLM` as a core text generator.

    Use it for :class:`~memorag_integrations.memory.prompt.PromptMemory`: the memory is then sent
    as the same leading chat messages on every call. ``max_tokens_kwarg`` names the per-call
    keyword that caps the output length of this LLM (``"max_tokens"`` for OpenAI-style LLMs and
    for :class:`GeneratorLLM`, chosen automatically there); when None the LLM's own limit holds.
    The LLM's own temperature holds as well.
    """

    def __init__(self, llm: LLM, *, max_tokens_kwarg: str | None = None, context_window: int | None = None) -> None:
        from llama_index.llms.memorag.generator_llm import GeneratorLLM

        self.llm = llm
        meta = llm.metadata
        self.identity = f"llamaindex:{meta.model_name}"
        self.context_window = int(context_window or meta.context_window)
        self.max_tokens_kwarg = max_tokens_kwarg or ("max_tokens" if isinstance(llm, GeneratorLLM) else None)

    def _kwargs(self, max_new_tokens: int) -> dict[str, Any]:
        return {self.max_tokens_kwarg: max_new_tokens} if self.max_tokens_kwarg else {}

    def generate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 stop: Sequence[str] | None = None) -> str:
        response = self.llm.chat(to_chat(prompt), **self._kwargs(max_new_tokens))
        return cut_at_stop(response.message.content or "", stop)

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        cut = _StopCutter(stop)
        for chunk in self.llm.stream_chat(to_chat(prompt), **self._kwargs(max_new_tokens)):
            piece = cut(chunk.delta or "")
            if piece:
                yield piece
            if cut.done:
                return

    async def agenerate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                        stop: Sequence[str] | None = None) -> str:
        response = await self.llm.achat(to_chat(prompt), **self._kwargs(max_new_tokens))
        return cut_at_stop(response.message.content or "", stop)

    async def astream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                      stop: Sequence[str] | None = None) -> AsyncIterator[str]:
        cut = _StopCutter(stop)
        async for chunk in await self.llm.astream_chat(to_chat(prompt), **self._kwargs(max_new_tokens)):
            piece = cut(chunk.delta or "")
            if piece:
                yield piece
            if cut.done:
                return

    def __repr__(self) -> str:
        return f"LLMGenerator(llm={type(self.llm).__name__}, identity={self.identity!r})"


class _StopCutter:
    """Passes stream pieces through until the text so far contains a stop string."""

    def __init__(self, stop: Sequence[str] | None) -> None:
        self.stop, self.text, self.done = stop, "", False

    def __call__(self, piece: str) -> str:
        before = len(self.text)
        self.text += piece
        cut = cut_at_stop(self.text, self.stop)
        if len(cut) < len(self.text):
            self.done = True
        return cut[before:]
