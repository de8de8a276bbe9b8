"""A LlamaIndex LLM over any core ``TextGenerator`` (the embedded default, llama.cpp, an API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (ChatMessage, ChatResponse, ChatResponseAsyncGen, ChatResponseGen,
                                              CompletionResponse, CompletionResponseAsyncGen,
                                              CompletionResponseGen, LLMMetadata, MessageRole)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from memorag_integrations.llm.base import Message, TextGenerator

_SYSTEM = {MessageRole.SYSTEM, MessageRole.DEVELOPER}
_ASSISTANT = {MessageRole.ASSISTANT, MessageRole.CHATBOT, MessageRole.MODEL}


def to_core_messages(messages: Sequence[ChatMessage]) -> list[Message]:
    """LlamaIndex chat messages as the core's ``{"role", "content"}`` dicts (tool turns read as user turns)."""
    def role(r: MessageRole) -> str:
        return "system" if r in _SYSTEM else "assistant" if r in _ASSISTANT else "user"

    return [{"role": role(m.role), "content": m.content or ""} for m in messages]


class GeneratorLLM(CustomLLM):
    """Puts a core :class:`~memorag_integrations.llm.base.TextGenerator` into LlamaIndex.

    ``GeneratorLLM()`` is the embedded SmolLM2-135M-Instruct, offline. Chat messages go to the
    generator as they are (it applies the model's chat template); async calls and streams run the
    local model in worker threads, so they never block the event loop. ``max_tokens=`` on a call
    overrides ``max_new_tokens`` for that call.
    """

    max_new_tokens: int = Field(default=256, gt=0, description="Tokens generated per call at most.")
    temperature: float = Field(default=0.0, ge=0.0, description="0 is greedy decoding.")
    _generator: TextGenerator = PrivateAttr()

    def __init__(self, generator: TextGenerator | None = None, *, max_new_tokens: int = 256,
                 temperature: float = 0.0, **kwargs: Any) -> None:
        super().__init__(max_new_tokens=max_new_tokens, temperature=temperature, **kwargs)
        if generator is None:
            from memorag_integrations.llm.transformers import TransformersGenerator

            generator = TransformersGenerator()
        self._generator = generator

    @classmethod
    def class_name(cls) -> str:
        return "MemoRAGGeneratorLLM"

    @property
    def generator(self) -> TextGenerator:
        return self._generator

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self._generator.context_window, num_output=self.max_new_tokens,
                           is_chat_model=True, model_name=self._generator.identity)

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"max_new_tokens": kwargs.get("max_tokens") or self.max_new_tokens,
                "temperature": kwargs.get("temperature", self.temperature), "stop": kwargs.get("stop")}

    # -- completion ----------------------------------------------------------------------------
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._generator.generate(prompt, **self._options(kwargs)))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        pieces = self._generator.stream(prompt, **self._options(kwargs))

        def gen() -> CompletionResponseGen:
            text = ""
            for piece in pieces:
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return gen()

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=await self._generator.agenerate(prompt, **self._options(kwargs)))

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False,
                               **kwargs: Any) -> CompletionResponseAsyncGen:
        pieces = self._generator.astream(prompt, **self._options(kwargs))

        async def gen() -> CompletionResponseAsyncGen:
            text = ""
            async for piece in pieces:
                text += piece
                yield CompletionResponse(text=text, delta=piece)

        return gen()

    # -- chat: messages go through natively, not flattened into one prompt ----------------------
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._generator.generate(to_core_messages(messages), **self._options(kwargs))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        pieces = self._generator.stream(to_core_messages(messages), **self._options(kwargs))

        def gen() -> ChatResponseGen:
            text = ""
            for piece in pieces:
                text += piece
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = await self._generator.agenerate(to_core_messages(messages), **self._options(kwargs))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        pieces = self._generator.astream(to_core_messages(messages), **self._options(kwargs))

        async def gen() -> ChatResponseAsyncGen:
            text = ""
            async for piece in pieces:
                text += piece
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)

        return gen()
