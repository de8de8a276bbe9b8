"""The LlamaIndex quickstart notebook runs top to bottom, offline, with the embedded models."""

import pytest
from li_support import ROOT
from notebook_runner import errors_of, execute, text_of

pytestmark = pytest.mark.slow


def test_llamaindex_quickstart_runs(tmp_path):
    nb = execute(ROOT / "notebooks" / "llamaindex_quickstart.ipynb", tmp_path)
    assert not errors_of(nb)
    text = text_of(nb)
    assert text.count("MemoRAG: ") == 2 and text.count("plain RAG: ") == 2
    assert "[event] clues for" in text and "tool ask_document returned" in text and "Sources:\n[1] langref" in text
    assert "manifest.json" in text and "same answer after loading" in text
