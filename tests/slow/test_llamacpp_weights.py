"""The embedded GGUF on llama.cpp runs from an F16 rewrite of its 4-bit file (faster to read on a
CPU); the rewrite is made once, and a memory saved with the other file is read again, not refused."""

import logging

import pytest

from memorag_integrations import Document, InvalidInputError, MemoRAG
from memorag_integrations.memory.gist import GistCache

pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (extra 'llamacpp')")
pytestmark = pytest.mark.slow


def test_the_embedded_model_is_rewritten_once_in_f16(tmp_path, monkeypatch):
    from memorag_integrations.llm.llamacpp import LlamaCppGenerator
    from memorag_integrations.models import DEFAULT_LM, EMBEDDED

    monkeypatch.setenv("MEMORAG_CACHE_DIR", str(tmp_path))
    f16 = LlamaCppGenerator(n_threads=1, sequences=1)
    assert f16.weights == "f16" and f16.path.name.endswith(".F16.gguf") and tmp_path in f16.path.parents
    written = f16.path.stat().st_mtime_ns
    assert LlamaCppGenerator(n_threads=1, sequences=1).path.stat().st_mtime_ns == written  # reused
    assert list(f16.path.parent.glob(".requantize-*")) == []  # no temporary file left
    original = LlamaCppGenerator(n_threads=1, sequences=1, weights="file")
    assert original.path == EMBEDDED[DEFAULT_LM].locate() and original.weights == "file"
    # The same tokenizer and template: the same prompt ids either way.
    assert f16.tokenize(f16.render("Hello")) == original.tokenize(original.render("Hello"))
    with pytest.raises(InvalidInputError, match="weights must be"):
        LlamaCppGenerator(weights="q2_k")


def test_a_memory_saved_with_the_4_bit_file_is_read_again(reference_text, tmp_path, caplog):
    from memorag_integrations.memory.llamacpp import LlamaCppKVMemory

    memory = LlamaCppKVMemory(n_threads=1, weights="file")
    memory.compressor.cache = GistCache(tmp_path / "gists")
    engine = MemoRAG(memory, progress=False).memorize(Document(reference_text[:1500], "langref"))
    folder = engine.save(tmp_path / "c", include_kv=True)
    with caplog.at_level(logging.WARNING):
        loaded = MemoRAG.load(folder, memory=LlamaCppKVMemory(n_threads=1), progress=False)
    assert "reading the memory again" in caplog.text and "model_bytes" in caplog.text
    assert loaded.memory.prefix_tokens == memory.prefix_tokens
    assert loaded.memory.generate("What is this text about?", 8)
