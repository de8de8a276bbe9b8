"""Running the notebooks offline with the embedded models.

The tests execute them (``execute``); ``python tests/support/notebook_runner.py`` executes every notebook
and stores it with its outputs, so a reader on GitHub sees the results. Execution metadata
(timestamps) is dropped so that a refresh changes only what the notebook printed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def execute(path: Path, workdir: Path, *, timeout: int = 1200) -> nbformat.NotebookNode:
    """``path`` executed top to bottom in ``workdir``; the notebook with its outputs."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    """Everything the code cells printed."""
    return "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))


def errors_of(nb: nbformat.NotebookNode) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
            if o.output_type == "error"]


def main(names: list[str]) -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if names and path.stem not in names:
            continue
        with tempfile.TemporaryDirectory() as workdir:
            nb = execute(path, Path(workdir))
        if errors_of(nb):
            raise SystemExit(f"{path.name} failed: {errors_of(nb)[0].get('evalue')}")
        nbformat.write(nb, path)
        print(f"stored {path.name} executed")


if __name__ == "__main__":
    main(sys.argv[1:])
