"""The README's LlamaIndex example runs as written."""

import re

import pytest
from doc_examples import run, section
from li_support import ROOT


def llamaindex_example() -> str:
    return re.findall(r"```python\n(.*?)```", section(ROOT / "README.md", "LlamaIndex"), re.S)[0]


def test_the_example_uses_only_the_public_imports():
    code = llamaindex_example()
    assert "from llama_index.query_engine.memorag import MemoRAGQueryEngine" in code
    assert "from_documents(" in code and ".query(" in code


@pytest.mark.slow
def test_the_readme_example_runs():
    result = run(llamaindex_example())  # the run tests/slow/test_doc_examples.py makes, kept for the session
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 3 and lines[0].strip()
    assert re.search(r"^\d+ \d+ \[", result.stdout, re.M)  # start, end and the matched queries of a source
