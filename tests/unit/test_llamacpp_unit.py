"""llama.cpp backend selection and input checks (no model is loaded)."""

import sys

import pytest

from memorag_integrations.errors import InvalidInputError, MissingDependencyError
from memorag_integrations.llm import llamacpp
from memorag_integrations.memory.kv import select_backend


def test_default_stays_transformers_and_auto_picks_llamacpp_for_gguf(monkeypatch, tmp_path):
    monkeypatch.setattr(llamacpp, "llamacpp_available", lambda: True)
    assert select_backend(None) == "transformers"  # the product default needs no compiler
    assert select_backend(None, "auto") == "llamacpp"  # the embedded model is a GGUF
    assert select_backend(tmp_path / "m.gguf", "auto") == "llamacpp"
    assert select_backend("Qwen/Qwen2.5-1.5B-Instruct", "auto") == "transformers"  # not a GGUF
    assert select_backend("Qwen/Qwen2.5-1.5B-Instruct", "llamacpp") == "llamacpp"  # explicit wins
    monkeypatch.setattr(llamacpp, "llamacpp_available", lambda: False)
    assert select_backend(None, "auto") == "transformers"  # not installed: no error, the default
    with pytest.raises(InvalidInputError, match="transformers, llamacpp, auto"):
        select_backend(None, "vllm")


def test_missing_llama_cpp_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"memorag-integrations\[llamacpp\]"):
        llamacpp.LlamaCppGenerator()


def test_only_gguf_files(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (extra 'llamacpp')")
    with pytest.raises(InvalidInputError, match="not a GGUF file"):
        llamacpp.LlamaCppGenerator(tmp_path)  # a folder: a transformers model
    with pytest.raises(FileNotFoundError):
        llamacpp.LlamaCppGenerator(tmp_path / "missing.gguf")


def test_threads_default_to_the_cores_this_process_may_use():
    import os

    assert llamacpp.available_cores() == len(os.sched_getaffinity(0)) >= 1
