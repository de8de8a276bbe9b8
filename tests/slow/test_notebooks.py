"""The core quickstart notebook runs top to bottom, offline, with the embedded default."""

import pytest
from notebook_runner import errors_of, execute, text_of
from testdata import ROOT

pytestmark = pytest.mark.slow


def test_quickstart_runs(tmp_path):
    nb = execute(ROOT / "notebooks" / "quickstart.ipynb", tmp_path)
    assert not errors_of(nb)
    text = text_of(nb)
    assert "same answer after loading" in text and "manifest.json" in text and "timed steps:" in text
