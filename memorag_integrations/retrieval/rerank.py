"""The reranker seam: a second opinion on the fused candidates, by a model that reads each one.

:class:`QueryLikelihoodReranker` asks a language model how likely the user's question is as "a
question this passage answers": the log-probability of the question's tokens after the passage.
Writing a question is a generative task, which small models do far better than judging relevance
with a yes or no; the score needs no training and no model beyond the one the engine already holds.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from memorag_integrations.defaults import RERANK_SENTENCES
from memorag_integrations.errors import InvalidInputError
from memorag_integrations.extractive import sentence_spans
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.prompts import detect_language, get_prompts


class ReadsAfterMemory(Protocol):
    """What scoring after a memory needs of it (a :class:`~memorag_integrations.memory.base.Memory`)."""

    def continuation_logprobs(self, instructions: Sequence[str], continuation: str) -> list[float]: ...


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
    probabilities (:meth:`TextGenerator.continuation_logprobs`: transformers and llama.cpp models do).

    ``sentences``: the model reads only that many sentences of each passage, the ones nearest the
    query by ``encode`` (an embedder's), in their order; a passage with no more sentences than that
    is read whole. None reads every passage whole.

    ``memory``: score after the memory of the whole corpus instead of the passage alone (the
    memory's model, continuing its read prefix): the memory may know which event, company or person
    a passage is about when the passage does not say (benchmarks/README.md, "Scoring after the
    memory")."""

    def __init__(self, generator: TextGenerator, *, sentences: int | None = None,
                 encode: Callable[[list[str]], np.ndarray] | None = None,
                 memory: ReadsAfterMemory | None = None) -> None:
        if sentences is not None:
            if isinstance(sentences, bool) or not isinstance(sentences, int) or sentences < 1:
                raise InvalidInputError(f"sentences must be a positive whole number, or None to read passages whole; "
                                        f"got {sentences!r}")
            if encode is None:
                raise InvalidInputError("sentences needs encode (an embedder's encode) to find each passage's "
                                        "sentences nearest the query")
        self.generator, self.sentences, self.encode, self.memory = generator, sentences, encode, memory

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        template = get_prompts(detect_language(query)).passage_question
        passages = [t.strip() for t in texts]
        if self.sentences is not None and self.encode is not None:
            passages = nearest_sentences(query, passages, self.sentences, self.encode)
        prompts = [template.format(text=t) for t in passages]
        if self.memory is not None:
            return self.memory.continuation_logprobs(prompts, query.strip())
        return self.generator.continuation_logprobs(prompts, query.strip())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.generator!r})"


def nearest_sentences(query: str, passages: Sequence[str], n: int,
                      encode: Callable[[list[str]], np.ndarray]) -> list[str]:
    """Each passage as its ``n`` sentences nearest ``query`` (cosine of ``encode``'s vectors), in
    their order, joined by spaces; a passage of ``n`` sentences or fewer as it is. One call of
    ``encode`` embeds the query and every sentence."""
    split = [passage_sentences(p) for p in passages]
    pool = [s for sents in split if len(sents) > n for s in sents]
    if not pool:
        return list(passages)
    vectors = np.asarray(encode([query, *pool]), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    similarity, at, out = vectors[1:] @ vectors[0], 0, []
    for passage, sents in zip(passages, split):
        if len(sents) <= n:
            out.append(passage)
            continue
        mine = similarity[at:at + len(sents)]
        at += len(sents)
        keep = sorted(np.argsort(-mine, kind="stable")[:n])
        out.append(" ".join(sents[i] for i in keep))
    return out


def passage_sentences(passage: str) -> list[str]:
    """The sentences :func:`nearest_sentences` chooses among, of a passage as the reranker reads it."""
    passage = passage.strip()
    return [passage[a:b] for a, b in sentence_spans(passage)]


def can_score(generator: TextGenerator) -> bool:
    """Whether ``generator`` gives token probabilities (transformers and llama.cpp do; an
    OpenAI-compatible endpoint does not)."""
    return type(generator).continuation_logprobs is not TextGenerator.continuation_logprobs


def default_reranker(generator: TextGenerator,
                     encode: Callable[[list[str]], np.ndarray] | None = None) -> QueryLikelihoodReranker:
    """The engine's reranker when it is asked to rerank and given none: the likelihoods of its own
    generator, reading each passage's :data:`~memorag_integrations.defaults.RERANK_SENTENCES`
    sentences nearest the query by ``encode`` (whole passages without it), or a typed error where
    that generator cannot score text."""
    if not can_score(generator):
        raise InvalidInputError(f"rerank needs a model that scores text, and {type(generator).__name__} cannot: pass "
                                "reranker=QueryLikelihoodReranker(TransformersGenerator(...)), or rerank=0")
    sentences = RERANK_SENTENCES if encode is not None else None
    return QueryLikelihoodReranker(generator, sentences=sentences, encode=encode)
