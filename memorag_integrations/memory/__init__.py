"""How the global memory is held: ``kv`` (a local model's KV cache) or ``prompt`` (any generator)."""

from memorag_integrations.memory.base import Memory
from memorag_integrations.memory.prompt import PromptMemory

__all__ = ["KVMemory", "Memory", "PromptMemory"]


def __getattr__(name: str):
    if name == "KVMemory":  # lazy: needs torch and transformers
        from memorag_integrations.memory.kv import KVMemory

        return KVMemory
    raise AttributeError(name)
