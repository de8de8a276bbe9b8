"""Shared, built-once parts for the LangChain adapter tests.

Real models are slow on a shared CPU, so each real part is built once per test session
(``functools.cache``) and reused by every test module, including the standard-suite classes whose
constructor parameters cannot come from fixtures.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pydoc_data.topics

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ("for", "while", "break", "continue", "assert", "pass", "del", "return")
QUESTION = "How do I leave a loop before it has finished?"
SMALL = {"clue_tokens": 24, "answer_tokens": 24}


def reference_text(topics=TOPICS) -> str:
    """A slice of the Python Language Reference that ships with CPython (about 2k tokens)."""
    return "\n\n".join(f"{name}\n{'=' * len(name)}\n\n{pydoc_data.topics.topics[name].strip()}" for name in topics)


@functools.cache
def lm():
    """The embedded SmolLM2-135M-Instruct, loaded once."""
    import torch

    from memorag_integrations.llm.transformers import TransformersGenerator

    # On a shared, oversubscribed CPU torch's OpenMP threads spin against each other (one thread
    # measured 8x faster there): MEMORAG_TEST_TORCH_THREADS=1 opts in. Unset keeps torch's default.
    threads = int(os.environ.get("MEMORAG_TEST_TORCH_THREADS", "0"))
    if threads > 0:
        torch.set_num_threads(threads)
    return TransformersGenerator()


@functools.cache
def embeddings():
    """The embedded all-MiniLM-L6-v2 as LangChain Embeddings, loaded once."""
    from langchain_memorag import EmbedderEmbeddings

    return EmbedderEmbeddings()


def chat_model(max_tokens: int = 24):
    """The embedded model as a LangChain chat model."""
    from langchain_memorag import GeneratorChatModel

    return GeneratorChatModel(generator=lm(), max_tokens=max_tokens)


@functools.cache
def kv_retriever():
    """The default path: the local KV memory and the core's FAISS index, memorized once; with the
    memory's clues, which the embedded model writes only when asked, so the tests can follow them."""
    from memorag_integrations.memory.kv import KVMemory

    from langchain_memorag import MemoRAGRetriever

    return MemoRAGRetriever.from_texts([reference_text()], embeddings(), ids=["langref"],
                                       memory=KVMemory(lm()), k=3, write_clues=True, **SMALL)


def with_store(store):
    """A retriever sharing the KV engine of :func:`kv_retriever` but searching a LangChain vector store."""
    from langchain_memorag import MemoRAGRetriever

    return MemoRAGRetriever.from_engine(kv_retriever().engine, store, embeddings(), k=3)


@functools.cache
def prompt_retriever():
    """A chat model as the memory (PromptMemory), over a short text so every call stays quick."""
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_memorag import MemoRAGRetriever

    return MemoRAGRetriever.from_texts([reference_text(("break", "continue"))], embeddings(), ids=["loops"],
                                       llm=chat_model(), vectorstore=InMemoryVectorStore, k=2, **SMALL)


def fake_retriever():
    """Fakes for pure-logic tests: a scripted chat model as the memory, hashed embeddings."""
    from langchain_core.embeddings import DeterministicFakeEmbedding
    from langchain_core.language_models import FakeListChatModel

    from langchain_memorag import MemoRAGRetriever

    memory = FakeListChatModel(responses=["- a clue here", "* a question here?"])
    return MemoRAGRetriever.from_texts(["Some text about loops. " * 20], DeterministicFakeEmbedding(size=16),
                                       llm=memory, k=2)
