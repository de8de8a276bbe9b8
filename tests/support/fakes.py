"""Deterministic stand-ins for unit tests of the engine's logic (never the only test of a feature)."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from memorag_integrations.llm.base import TextGenerator, as_messages
from memorag_integrations.retrieval.embedders import Embedder


class ScriptedGenerator(TextGenerator):
    """Answers by the kind of prompt it receives, from the memory context when one is present."""

    identity = "scripted-test-model"
    context_window = 4096

    def __init__(self) -> None:
        self.calls: list[str] = []

    def generate(self, prompt, max_new_tokens=256, *, temperature=0.0, stop=None) -> str:
        messages = as_messages(prompt)
        last = messages[-1]["content"]
        self.calls.append(last)
        if last.startswith("Condense"):
            return "GIST: " + " ".join(last.split("Passage:\n", 1)[1].split()[:5])
        if "quote the short passages" in last:
            return "1. the launch happened in 1969\n2. \"the launch happened in 1969\"\n- crew of three"
        if "specific questions" in last:
            return "* When did the launch happen?\n* Who was in the crew?"
        if last.startswith("List the key points"):
            return "- launch year\n- crew members"
        if last.startswith("Answer briefly"):
            return "draft: 1969"
        if "passages do not say" in last:  # a memory-led round: what the found passages lack
            return "NONE" if "commanded" in last else "Search query: who commanded it"
        return "ANSWER(" + str(len(messages)) + ")"


class ScoringGenerator(ScriptedGenerator):
    """A scripted generator that also scores text: a continuation is as likely as the share of its
    words the prompt holds (a stand-in for a model's log-probabilities)."""

    def continuation_logprobs(self, prompts, continuation):
        words = set(re.findall(r"\w+", continuation.lower()))
        return [float(len(words & set(re.findall(r"\w+", as_messages(p)[-1]["content"].lower()))))
                for p in prompts]


class ContextRecorder(ScriptedGenerator):
    """Also records the memory context of each call made with one (its first message)."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[str] = []

    def generate(self, prompt, max_new_tokens=256, *, temperature=0.0, stop=None) -> str:
        messages = as_messages(prompt)
        if len(messages) > 1:
            self.contexts.append(messages[0]["content"])
        return super().generate(prompt, max_new_tokens, temperature=temperature, stop=stop)


class HashEmbedder(Embedder):
    """Bag of hashed words: texts sharing words are close. Fast and dependency-free."""

    identity = "hash-embedder"
    max_tokens = 64

    def __init__(self, dim: int = 128, identity: str = "hash-embedder") -> None:
        self.dim = dim
        self.identity = identity

    def encode(self, texts, *, progress=False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
