"""The LangChain quickstart notebook runs top to bottom, offline, with the embedded defaults."""

import pytest
from lc_support import ROOT
from notebook_runner import errors_of, execute, text_of

pytestmark = pytest.mark.slow


def test_langchain_quickstart_runs(tmp_path):
    nb = execute(ROOT / "notebooks" / "langchain_quickstart.ipynb", tmp_path)
    assert not errors_of(nb)
    text = text_of(nb)
    for marker in ("--- plain RAG answer", "--- MemoRAG answer", "found by", "passages ]", "ToolMessage ->",
                   "artifact: ['langref:"):
        assert marker in text, marker
