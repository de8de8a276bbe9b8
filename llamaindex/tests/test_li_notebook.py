"""The LlamaIndex quickstart notebook runs top to bottom, offline, with the embedded models."""

import nbformat
import pytest
from li_support import ROOT
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def test_llamaindex_quickstart_runs(tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / "llamaindex_quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert text.count("MemoRAG: ") == 2 and text.count("plain RAG: ") == 2
    assert "[event] clues for" in text and "tool ask_document returned" in text and "Sources:\n[1] langref" in text
    assert "manifest.json" in text and "same answer after loading" in text
