"""The reranker seam: a second opinion on the fused candidates, by a model that reads each one.

:class:`QueryLikelihoodReranker` asks a language model how likely the user's question is as "a
question this passage answers": the log-probability of the question's tokens after the passage.
Writing a question is a generative task, which small models do far better than judging relevance
with a yes or no; the score needs no training and no model beyond the one the engine already holds.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.prompts import detect_language, get_prompts


class Reranker(ABC):
    """Scores candidate passages for a query; higher is more relevant."""

    @abstractmethod
    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One score per text, in the order of ``texts``."""

    async def ascore(self, query: str, texts: Sequence[str]) -> list[float]:
        """Async :meth:`score`; a local model runs in a worker thread."""
        return await asyncio.to_thread(self.score, query, texts)


class QueryLikelihoodReranker(Reranker):
    """Scores a passage by the log-probability ``generator`` gives the query as a question the
    passage answers (the prompt set of the query's language). The generator must expose token
    probabilities (:meth:`TextGenerator.continuation_logprobs`: transformers and llama.cpp models do)."""

    def __init__(self, generator: TextGenerator) -> None:
        self.generator = generator

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        template = get_prompts(detect_language(query)).passage_question
        return self.generator.continuation_logprobs([template.format(text=t.strip()) for t in texts], query.strip())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.generator!r})"


def can_score(generator: TextGenerator) -> bool:
    """Whether ``generator`` gives token probabilities (transformers and llama.cpp do; an
    OpenAI-compatible endpoint does not)."""
    return type(generator).continuation_logprobs is not TextGenerator.continuation_logprobs


def default_reranker(generator: TextGenerator) -> QueryLikelihoodReranker:
    """The engine's reranker when it is asked to rerank and given none: the likelihoods of its own
    generator, or a typed error where that generator cannot score text."""
    if not can_score(generator):
        raise InvalidInputError(f"rerank needs a model that scores text, and {type(generator).__name__} cannot: pass "
                                "reranker=QueryLikelihoodReranker(TransformersGenerator(...)), or rerank=0")
    return QueryLikelihoodReranker(generator)
