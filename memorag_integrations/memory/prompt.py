"""Memory of kind ``prompt``: for generators without KV access (APIs, framework LLMs)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from memorag_integrations.llm.base import Message, TextGenerator
from memorag_integrations.memory.base import Memory
from memorag_integrations.memory.gist import Compressor
from memorag_integrations.prompts import detect_language, get_prompts
from memorag_integrations.schema import Document


class PromptMemory(Memory):
    """The memory is the corpus (or its gists) sent as the same leading messages on every call.

    The prefix is byte-identical across queries, so servers with prefix caching (vLLM, SGLang,
    llama.cpp, OpenAI) reuse its KV cache instead of reading it again.
    """

    kind = "prompt"

    def __init__(self, generator: TextGenerator, *, max_memory_tokens: int | None = None,
                 gist_chunk_tokens: int = 1536, gist_tokens: int = 64, batch_size: int = 4) -> None:
        super().__init__(generator)
        window = generator.context_window
        self.max_memory_tokens = max_memory_tokens or max(512, window - 1024)
        self.compressor = Compressor(generator, gist_chunk_tokens, gist_tokens, batch_size)

    def config(self):
        return {**super().config(), "max_memory_tokens": self.max_memory_tokens,
                "gist_chunk_tokens": self.compressor.chunk_tokens, "gist_tokens": self.compressor.gist_tokens}

    def memorize(self, documents: Sequence[Document], *, progress: bool = True) -> None:
        self.language = detect_language(" ".join(d.text[:2000] for d in documents))
        self.context, self.gists = self.compressor.build_context(
            documents, get_prompts(self.language), self.max_memory_tokens, progress=progress
        )

    def messages(self, instruction: str) -> list[Message]:
        """The full chat for ``instruction``: the stable memory prefix, then the instruction."""
        self._require_ready()
        return [*self._messages(get_prompts(self.language)), {"role": "user", "content": instruction}]

    def generate(self, instruction: str, max_new_tokens: int = 256) -> str:
        return self.generator.generate(self.messages(instruction), max_new_tokens)

    def stream(self, instruction: str, max_new_tokens: int = 256) -> Iterator[str]:
        yield from self.generator.stream(self.messages(instruction), max_new_tokens)

    async def agenerate(self, instruction: str, max_new_tokens: int = 256) -> str:
        return await self.generator.agenerate(self.messages(instruction), max_new_tokens)
