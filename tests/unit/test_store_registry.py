"""The registry of memory kinds that rebuilds a saved memory from its manifest entry."""

import pytest
from fakes import ScriptedGenerator

from memorag_integrations import IncompatibleStoreError, PromptMemory
from memorag_integrations.memory.registry import MEMORY_KINDS, memory_from_config, memory_kind

SAVED = {"kind": "prompt", "model": "scripted-test-model", "max_memory_tokens": 1000, "gist_chunk_tokens": 500,
         "gist_tokens": 32, "gisting": "generate"}


def test_a_prompt_memory_is_rebuilt_with_its_saved_settings_around_the_given_model():
    memory = memory_from_config(SAVED, ScriptedGenerator())
    assert isinstance(memory, PromptMemory) and memory.config() == SAVED
    extracting = memory_from_config(SAVED | {"gisting": "extract"}, ScriptedGenerator())
    assert extracting.compressor.gisting == "extract"
    with pytest.raises(IncompatibleStoreError, match="generator="):
        memory_from_config(SAVED)


def test_unknown_and_remote_code_kinds_are_refused_with_what_to_pass():
    with pytest.raises(IncompatibleStoreError, match="does not know: pass memory="):
        memory_from_config({"kind": "graph", "model": "x"})
    with pytest.raises(IncompatibleStoreError, match="trust_remote_code=True"):
        memory_from_config({"kind": "beacon", "model": "org/beacon", "beacon_ratio": 4})
    with pytest.raises(IncompatibleStoreError, match=r"by itself: pass the same memory model to load\(\)$"):
        memory_from_config({"kind": "kv", "model": "path:/somewhere/model"})


def test_a_new_kind_registers_once_and_loads_everywhere():
    @memory_kind("echo", "test")
    def _echo(config, generator, allow):
        return PromptMemory(generator or ScriptedGenerator(), max_memory_tokens=config["max_memory_tokens"])

    try:
        memory = memory_from_config({"kind": "echo", "backend": "test", "model": "m", "max_memory_tokens": 600})
        assert isinstance(memory, PromptMemory) and memory.max_memory_tokens == 600
    finally:
        del MEMORY_KINDS[("echo", "test")]
