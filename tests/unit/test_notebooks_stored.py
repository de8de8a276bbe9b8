"""The notebooks are stored executed, so a reader sees their results without running them
(``python tests/support/notebook_runner.py`` refreshes them; the slow tests run them afresh)."""

import nbformat
import pytest
from notebook_runner import NOTEBOOKS, errors_of, text_of


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_a_stored_notebook_holds_its_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count for cell in code), "run python tests/support/notebook_runner.py"
    assert not errors_of(nb) and all(cell.outputs for cell in code if "print(" in cell.source)
    assert len(text_of(nb)) < 20_000  # small enough to read on GitHub
