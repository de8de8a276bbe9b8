"""The README's LlamaIndex example runs as written."""

import re
import subprocess
import sys

import pytest
from li_support import ROOT


def llamaindex_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## LlamaIndex\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)[0]


def test_the_example_uses_only_the_public_imports():
    code = llamaindex_example()
    assert "from llama_index.query_engine.memorag import MemoRAGQueryEngine" in code
    assert "from_documents(" in code and ".query(" in code


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path):
    result = subprocess.run([sys.executable, "-c", llamaindex_example()], cwd=tmp_path, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 3 and lines[0].strip()
    assert re.search(r"^\d+ \d+ \[", result.stdout, re.M)  # start, end and the matched queries of a source
