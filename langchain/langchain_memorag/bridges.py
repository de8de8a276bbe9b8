"""Bridges between the core's seams and LangChain's model interfaces, in both directions.

- :class:`GeneratorChatModel`: any core ``TextGenerator`` as a LangChain chat model (the embedded
  default model inside an LCEL chain).
- :class:`ChatModelGenerator`: any LangChain chat model as a core ``TextGenerator`` (an API model
  as the memory, through ``PromptMemory``).
- :class:`EmbedderEmbeddings` / :class:`LangChainEmbedder`: the same for embedders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.llm.base import Message, Prompt, TextGenerator, as_messages
from memorag_integrations.retrieval.embedders import Embedder
from memorag_integrations.text import regex_offsets

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "user", "function": "user",
          "chat": "user", "developer": "system"}


def to_core_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    """LangChain messages as ``{"role", "content"}`` dicts (text content only)."""
    return [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]


def to_langchain_messages(prompt: Prompt) -> list[BaseMessage]:
    kinds = {"user": HumanMessage, "assistant": AIMessage, "system": SystemMessage}
    out = []
    for m in as_messages(prompt):
        if m["role"] not in kinds:
            raise InvalidInputError(f"unknown message role {m['role']!r}; use user, assistant or system")
        out.append(kinds[m["role"]](content=m["content"]))
    return out


def _default_generator() -> TextGenerator:
    from memorag_integrations.llm.transformers import TransformersGenerator

    return TransformersGenerator()


class GeneratorChatModel(BaseChatModel):
    """A core :class:`~memorag_integrations.llm.base.TextGenerator` as a LangChain chat model.

    Sync, async and streaming calls go to the generator's own methods, so a local model streams
    real tokens. ``max_tokens`` may also be given per call (``model.invoke(msgs, max_tokens=32)``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    generator: Any = Field(default_factory=lambda: _default_generator(),
                           description="the core TextGenerator that writes the text (default: the embedded model)")
    max_tokens: int = 256
    temperature: float = 0.0

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Refused with what to use instead: a core generator writes plain text, not tool calls."""
        raise NotImplementedError(
            f"GeneratorChatModel ({self.generator.identity}) writes plain text and cannot call tools, so it cannot "
            "drive an agent. Give the agent a chat model with tool calling; offline, a llama.cpp server with a "
            "tool-calling chat format (python -m llama_cpp.server --model MODEL.gguf --chat_format "
            "chatml-function-calling) through langchain_openai.ChatOpenAI(base_url='http://127.0.0.1:8000/v1', "
            "api_key='none'). The MemoRAG tool itself (create_memorag_tool) can keep this model as its generator.")

    @property
    def _llm_type(self) -> str:
        return "memorag-generator"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"generator": self.generator.identity, "max_tokens": self.max_tokens,
                "temperature": self.temperature}

    def get_num_tokens(self, text: str) -> int:
        return self.generator.count_tokens(text)

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """What tracing records of a call: the model behind the generator and its limits."""
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "memorag"
        params["ls_model_name"] = str(kwargs.get("model") or self.generator.identity)
        params["ls_max_tokens"] = int(kwargs.get("max_tokens") or self.max_tokens)
        params["ls_temperature"] = float(kwargs.get("temperature", self.temperature))
        return params

    def _options(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"max_new_tokens": int(kwargs.get("max_tokens") or self.max_tokens),
                "temperature": float(kwargs.get("temperature", self.temperature)), "stop": stop}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = self.generator.generate(to_core_messages(messages), **self._options(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = await self.generator.agenerate(to_core_messages(messages), **self._options(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in self.generator.stream(to_core_messages(messages), **self._options(stop, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        async for piece in self.generator.astream(to_core_messages(messages), **self._options(stop, kwargs)):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


class ChatModelGenerator(TextGenerator):
    """Any LangChain chat model as a core :class:`TextGenerator`, e.g. the model of a ``PromptMemory``.

    Calls carry no explicit config, so inside a LangChain run (the retriever's expansion step) they
    show up as child runs of it. ``max_tokens_arg`` names the call argument that limits the output
    (``max_tokens`` for most providers; None sends no limit). ``context_window`` sizes the memory.
    """

    def __init__(self, model: BaseChatModel, *, context_window: int = 8192, identity: str | None = None,
                 max_tokens_arg: str | None = "max_tokens") -> None:
        if not isinstance(model, BaseChatModel):
            raise InvalidInputError(f"expected a LangChain chat model, got {type(model).__name__}")
        self.model = model
        self.context_window = context_window
        name = getattr(model, "model_name", None) or getattr(model, "model", None)
        if isinstance(model, GeneratorChatModel):
            name = model.generator.identity
        self.identity = identity or f"langchain:{model._llm_type}:{name or type(model).__name__}"
        self.max_tokens_arg = max_tokens_arg

    def _kwargs(self, max_new_tokens: int, temperature: float, stop: Sequence[str] | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"stop": list(stop) if stop else None}
        if self.max_tokens_arg:
            kwargs[self.max_tokens_arg] = max_new_tokens
        if temperature:
            kwargs["temperature"] = temperature
        return kwargs

    def generate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 stop: Sequence[str] | None = None) -> str:
        message = self.model.invoke(to_langchain_messages(prompt), **self._kwargs(max_new_tokens, temperature, stop))
        return message.text

    def generate_batch(self, prompts: Sequence[Prompt], max_new_tokens: int = 256) -> list[str]:
        # LangChain batches concurrently, which is what API models want for gisting.
        messages: list[Any] = [to_langchain_messages(p) for p in prompts]
        return [m.text for m in self.model.batch(messages, **self._kwargs(max_new_tokens, 0.0, None))]

    async def agenerate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                        stop: Sequence[str] | None = None) -> str:
        message = await self.model.ainvoke(to_langchain_messages(prompt),
                                           **self._kwargs(max_new_tokens, temperature, stop))
        return message.text

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        messages = to_langchain_messages(prompt)
        for chunk in self.model.stream(messages, **self._kwargs(max_new_tokens, temperature, stop)):
            if chunk.text:
                yield chunk.text

    async def astream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                      stop: Sequence[str] | None = None) -> AsyncIterator[str]:
        async for chunk in self.model.astream(to_langchain_messages(prompt),
                                              **self._kwargs(max_new_tokens, temperature, stop)):
            if chunk.text:
                yield chunk.text

    def count_tokens(self, text: str) -> int:
        if isinstance(self.model, GeneratorChatModel):
            return self.model.generator.count_tokens(text)
        return super().count_tokens(text)


class EmbedderEmbeddings(Embeddings):
    """A core :class:`Embedder` (default: the embedded all-MiniLM-L6-v2) as LangChain ``Embeddings``."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        if embedder is None:
            from memorag_integrations.retrieval.embedders import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder()
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.encode(texts).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.encode([text])[0].tolist()


class LangChainEmbedder(Embedder):
    """LangChain ``Embeddings`` as a core :class:`Embedder`, so the core's FAISS index can use them.

    Without a tokenizer at hand, chunks are measured in words (``max_tokens`` of them), a safe
    size for the common 256-512-token embedding models.
    """

    def __init__(self, embeddings: Embeddings, *, max_tokens: int = 160) -> None:
        self.embeddings = embeddings
        self.identity = f"langchain:{type(embeddings).__name__}"
        self.max_tokens = max_tokens

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        vectors = np.asarray(self.embeddings.embed_documents(list(texts)), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        return regex_offsets(text)


def as_core_embedder(embeddings: Embeddings) -> Embedder:
    """The core embedder behind ``embeddings``: unwrapped when it is one, else bridged."""
    if isinstance(embeddings, EmbedderEmbeddings):
        return embeddings.embedder
    return LangChainEmbedder(embeddings)
