"""Several servers of one model as one generator: batches are spread over all of them at once.

Memorizing is many independent gisting calls (one per section of the corpus), so it scales out
over a pool of OpenAI-compatible servers (vLLM, SGLang, llama.cpp): each member takes the next
prompt as soon as one of its ``concurrency`` slots is free, so faster servers take more. Single
calls (a query's clues, an answer) go to the members in turn.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Sequence

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.llm.base import Prompt, TextGenerator


class PooledGenerator(TextGenerator):
    """``members`` (generators of the same model, e.g. ``OpenAIGenerator`` s with other
    ``base_url`` s) as one. ``concurrency``: requests each member serves at once (default: its own
    ``concurrency`` when it has one, else 1). The pool's ``identity`` names the model, not the hosts,
    so a corpus memorized through one pool loads through another pool of that model; pass
    ``identity=`` when the members name the model differently.
    """

    def __init__(self, members: Sequence[TextGenerator], *, concurrency: int | None = None,
                 identity: str | None = None) -> None:
        members = list(members)
        if not members or not all(isinstance(m, TextGenerator) for m in members):
            raise InvalidInputError("a pool needs one or more TextGenerators (e.g. OpenAIGenerator(model, "
                                    "base_url=...))")
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                        or concurrency < 1):
            raise InvalidInputError(f"concurrency must be a positive integer, got {concurrency!r}")
        self.members = members
        self.slots = [concurrency or max(1, int(getattr(m, "concurrency", 1))) for m in members]
        self.identity = identity or _common_identity(members)
        self.context_window = min(m.context_window for m in members)
        self._turn = itertools.cycle(range(len(members)))
        self._turn_lock = threading.Lock()

    @property
    def concurrency(self) -> int:
        """Requests the whole pool serves at once (a memory gists this many sections per batch)."""
        return sum(self.slots)

    def _next(self) -> TextGenerator:
        with self._turn_lock:
            return self.members[next(self._turn)]

    def generate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 stop: Sequence[str] | None = None) -> str:
        return self._next().generate(prompt, max_new_tokens, temperature=temperature, stop=stop)

    def generate_batch(self, prompts: Sequence[Prompt], max_new_tokens: int = 256) -> list[str]:
        """Every prompt's answer, in order; the members work through one shared queue."""
        if len(prompts) <= 1:
            return [self.generate(p, max_new_tokens) for p in prompts]
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(len(prompts)):
            todo.put(i)
        results: list[str | None] = [None] * len(prompts)
        failures: list[BaseException] = []

        def work(member: TextGenerator) -> None:
            while not failures:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[i] = member.generate(prompts[i], max_new_tokens)
                except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread below)
                    failures.append(exc)
                    return

        threads = [threading.Thread(target=work, args=(m,), daemon=True)
                   for m, n in zip(self.members, self.slots) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]
        return [str(r) for r in results]

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        yield from self._next().stream(prompt, max_new_tokens, temperature=temperature, stop=stop)

    async def agenerate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                        stop: Sequence[str] | None = None) -> str:
        return await self._next().agenerate(prompt, max_new_tokens, temperature=temperature, stop=stop)

    async def astream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                      stop: Sequence[str] | None = None) -> AsyncIterator[str]:
        async for piece in self._next().astream(prompt, max_new_tokens, temperature=temperature, stop=stop):
            yield piece

    def count_tokens(self, text: str) -> int:
        return self.members[0].count_tokens(text)

    def __repr__(self) -> str:
        return f"PooledGenerator(identity={self.identity!r}, members={len(self.members)}, slots={self.slots})"


def _common_identity(members: list[TextGenerator]) -> str:
    """The members' shared identity; OpenAI-compatible members of one model on other hosts share
    ``provider:model``. Anything else must be named."""
    identities = {m.identity for m in members}
    if len(identities) == 1:
        return identities.pop()
    models = {(getattr(m, "provider", None), getattr(m, "model", None)) for m in members}
    if len(models) == 1 and None not in next(iter(models)):
        provider, model = models.pop()
        return f"{provider}:{model}@pool"
    raise InvalidInputError(f"the pool's members are not one model ({', '.join(sorted(identities))}); give them "
                            "the same model, or name the pool with identity=")
