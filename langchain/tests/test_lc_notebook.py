"""The LangChain quickstart notebook runs top to bottom, offline, with the embedded defaults."""


import nbformat
import pytest
from lc_support import ROOT
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


def test_langchain_quickstart_runs(tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / "langchain_quickstart.ipynb", as_version=4)
    client = NotebookClient(nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    for marker in ("--- plain RAG answer", "--- MemoRAG answer", "found by", "passages ]", "ToolMessage ->",
                   "artifact: ['langref:"):
        assert marker in text, marker
