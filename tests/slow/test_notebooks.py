"""Every notebook runs top to bottom, offline, with the embedded default."""

import nbformat
import pytest
from testdata import ROOT
from nbclient import NotebookClient

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["quickstart.ipynb"])
def test_notebook_runs(name, tmp_path):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert "same answer after loading" in text and "manifest.json" in text
