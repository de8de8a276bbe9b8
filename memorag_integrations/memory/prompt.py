"""Memory of kind ``prompt``: for generators without KV access (APIs, framework LLMs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence

from memorag_integrations.defaults import GIST_CHUNK_TOKENS, GIST_TOKENS
from memorag_integrations.llm.base import Message, TextGenerator
from memorag_integrations.memory.base import Memory


class PromptMemory(Memory):
    """The memory is the corpus (or its gists) sent as the same leading messages on every call.

    The prefix is byte-identical across queries, so servers with prefix caching (vLLM, SGLang,
    llama.cpp, OpenAI) reuse its KV cache instead of reading it again.
    """

    kind = "prompt"

    def __init__(self, generator: TextGenerator, *, max_memory_tokens: int | None = None,
                 gist_chunk_tokens: int = GIST_CHUNK_TOKENS, gist_tokens: int = GIST_TOKENS,
                 batch_size: int | None = None, gisting: str = "auto") -> None:
        # Sections gisted per batch: as many as the generator serves at once (a server's or a
        # pool's concurrency), 4 otherwise.
        batch_size = batch_size or max(1, int(getattr(generator, "concurrency", 4)))
        super().__init__(generator, max_memory_tokens=max_memory_tokens, gist_chunk_tokens=gist_chunk_tokens,
                         gist_tokens=gist_tokens, batch_size=batch_size, gisting=gisting)

    def messages(self, instruction: str) -> list[Message]:
        """The full chat for ``instruction``: the stable memory prefix, then the instruction."""
        self._require_ready()
        return [*self._messages(), {"role": "user", "content": instruction}]

    def generate(self, instruction: str, max_new_tokens: int = 256) -> str:
        return self.generator.generate(self.messages(instruction), max_new_tokens)

    def stream(self, instruction: str, max_new_tokens: int = 256) -> Iterator[str]:
        yield from self.generator.stream(self.messages(instruction), max_new_tokens)

    async def agenerate_many(self, calls: Sequence[tuple[str, int]]) -> list[str]:
        """The calls sent concurrently: a server batches them, over the same cached prefix."""
        return list(await asyncio.gather(*(self.agenerate(instruction, n) for instruction, n in calls)))

    async def agenerate(self, instruction: str, max_new_tokens: int = 256) -> str:
        return await self.generator.agenerate(self.messages(instruction), max_new_tokens)

    def astream(self, instruction: str, max_new_tokens: int = 256) -> AsyncIterator[str]:
        return self.generator.astream(self.messages(instruction), max_new_tokens)
