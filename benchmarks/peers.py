"""The framework peers' glue: their retrievers over OUR chunk list, and their LLM wrappers over OUR model.

LangChain's MultiQueryRetriever and LlamaIndex's QueryFusionRetriever / HyDEQueryTransform run as
their libraries ship them; only what they call (a base retriever, an LLM) is ours, so every method
searches the same chunks with the same embedder and writes with the same model.

The LLM wrappers come from the project's adapters (``langchain_memorag.GeneratorChatModel``,
``llama_index.llms.memorag.GeneratorLLM``) when those are installed; otherwise a minimal private
wrapper defined here stands in.
"""

from __future__ import annotations

from typing import Any

from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.retrieval.retriever import DenseRetriever

CHUNK_ID = "chunk_id"


def langchain_chat_model(generator: TextGenerator, max_new_tokens: int) -> Any:
    """A LangChain chat model that writes with ``generator``."""
    try:
        from langchain_memorag import GeneratorChatModel  # the adapter's bridge, once published
    except ImportError:
        GeneratorChatModel = None
    if GeneratorChatModel is not None:
        try:
            return GeneratorChatModel(generator=generator, max_new_tokens=max_new_tokens)
        except Exception:  # an older bridge without max_new_tokens
            return GeneratorChatModel(generator=generator)
    return _private_chat_model(generator, max_new_tokens)


def _private_chat_model(generator: TextGenerator, max_new_tokens: int) -> Any:
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    roles = {"human": "user", "ai": "assistant", "system": "system"}

    class _ChatModel(BaseChatModel):
        generator: Any
        max_new_tokens: int = 128

        @property
        def _llm_type(self) -> str:
            return "memorag-bench-generator"

        def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
            chat = [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]
            text = self.generator.generate(chat, self.max_new_tokens, stop=stop)
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    return _ChatModel(generator=generator, max_new_tokens=max_new_tokens)


def llamaindex_llm(generator: TextGenerator, max_new_tokens: int) -> Any:
    """A LlamaIndex LLM that writes with ``generator``."""
    try:
        from llama_index.llms.memorag import GeneratorLLM  # the adapter's bridge, once published
    except ImportError:
        GeneratorLLM = None
    if GeneratorLLM is not None:
        try:
            return GeneratorLLM(generator=generator, max_new_tokens=max_new_tokens)
        except Exception:
            return GeneratorLLM(generator=generator)
    return _private_llm(generator, max_new_tokens)


def _private_llm(generator: TextGenerator, max_new_tokens: int) -> Any:
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback

    class _LLM(CustomLLM):
        generator: Any
        max_new_tokens: int = 128

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=self.generator.context_window, num_output=self.max_new_tokens,
                               model_name=self.generator.identity)

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            return CompletionResponse(text=self.generator.generate(prompt, self.max_new_tokens))

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
            yield self.complete(prompt, formatted=formatted)

    return _LLM(generator=generator, max_new_tokens=max_new_tokens)


def langchain_retriever(retriever: DenseRetriever, k: int) -> Any:
    """A LangChain retriever over the core's chunks; each Document carries its ``chunk_id``."""
    from langchain_core.documents import Document as LCDocument
    from langchain_core.retrievers import BaseRetriever

    class _ChunkRetriever(BaseRetriever):
        core: Any
        k: int = 5
        seen: list = []  # every query the peer searched with, to show what its LLM wrote

        def _get_relevant_documents(self, query: str, *, run_manager=None) -> list[LCDocument]:
            self.seen.append(query)
            hits = self.core.search([query], self.k)[0]
            return [LCDocument(page_content=c.text, metadata={CHUNK_ID: c.chunk_id, "score": s}) for c, s in hits]

    return _ChunkRetriever(core=retriever, k=k)


def llamaindex_retriever(retriever: DenseRetriever, k: int) -> Any:
    """A LlamaIndex retriever over the core's chunks; each node carries its ``chunk_id``."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, TextNode

    class _ChunkRetriever(BaseRetriever):
        def __init__(self, core: DenseRetriever, k: int) -> None:
            super().__init__()
            self.core, self.k = core, k
            self.seen: list[str] = []  # every query the peer searched with

        def _retrieve(self, query_bundle) -> list[NodeWithScore]:
            self.seen.append(query_bundle.query_str)
            hits = self.core.search([query_bundle.query_str], self.k)[0]
            return [NodeWithScore(node=TextNode(text=c.text, id_=f"chunk-{c.chunk_id}",
                                                metadata={CHUNK_ID: c.chunk_id}), score=s) for c, s in hits]

    return _ChunkRetriever(retriever, k)
