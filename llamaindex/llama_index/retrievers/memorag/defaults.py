"""What the adapter uses when the caller names no memory or embedding: the offline defaults."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.llms import LLM

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.memory.base import Memory


def as_memory(memory: Memory | LLM | TextGenerator | None, **options: Any) -> Memory:
    """A core memory from: a memory (as is), a LlamaIndex LLM or a core generator (a prompt
    memory over it), or None (the core's local KV memory over the embedded model)."""
    from memorag_integrations.memory.prompt import PromptMemory

    if isinstance(memory, Memory):
        return memory
    if isinstance(memory, LLM):
        from llama_index.llms.memorag import LLMGenerator

        return PromptMemory(LLMGenerator(memory), **options)
    if isinstance(memory, TextGenerator):
        return PromptMemory(memory, **options)
    if memory is None:
        from memorag_integrations.memory.kv import KVMemory

        return KVMemory(**options)
    raise InvalidInputError(f"memory must be a MemoRAG Memory, a LlamaIndex LLM or None, not {type(memory).__name__}")


def resolve_embed_model(embed_model: BaseEmbedding | None) -> BaseEmbedding:
    """The given embedding, else ``Settings.embed_model`` when the user set one, else the offline
    MiniLM. Reading ``Settings.embed_model`` unset would build OpenAI's and reach the network."""
    if embed_model is not None:
        return embed_model
    from llama_index.core import Settings

    if getattr(Settings, "_embed_model", None) is not None:
        return Settings.embed_model
    from llama_index.retrievers.memorag.embedding import MemoRAGEmbedding

    return MemoRAGEmbedding()


def resolve_llm(llm: LLM | None, fallback: TextGenerator, max_new_tokens: int = 256) -> LLM:
    """The given LLM, else ``Settings.llm`` when the user set one, else ``fallback`` (the memory's
    own model) wrapped as a LlamaIndex LLM that writes up to ``max_new_tokens``."""
    if llm is not None:
        return llm
    from llama_index.core import Settings

    if getattr(Settings, "_llm", None) is not None:
        return Settings.llm
    from llama_index.llms.memorag import GeneratorLLM

    return GeneratorLLM(fallback, max_new_tokens=max_new_tokens)
