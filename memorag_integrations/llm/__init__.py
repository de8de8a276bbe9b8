"""Text generators: the generator seam and its backends (transformers, OpenAI-compatible, llama.cpp)."""

from memorag_integrations.llm.base import Message, Prompt, TextGenerator

__all__ = ["LlamaCppGenerator", "Message", "OpenAIGenerator", "PooledGenerator", "Prompt", "TextGenerator",
           "TransformersGenerator"]

# Lazy: importing the seam must not import torch, openai or llama_cpp.
_BACKENDS = {
    "TransformersGenerator": "memorag_integrations.llm.transformers",
    "OpenAIGenerator": "memorag_integrations.llm.openai",
    "LlamaCppGenerator": "memorag_integrations.llm.llamacpp",
    "PooledGenerator": "memorag_integrations.llm.pool",
}


def __getattr__(name: str):
    if name in _BACKENDS:
        import importlib

        return getattr(importlib.import_module(_BACKENDS[name]), name)
    raise AttributeError(name)
