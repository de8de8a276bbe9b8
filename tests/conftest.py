"""Fixtures of the core's tests. Helper modules (fakes, a fault proxy, a llama.cpp server, test
text) live in ``tests/support``, which pytest puts on the path (``pythonpath`` in pyproject.toml)."""

import pytest
from testdata import language_reference_slice


@pytest.fixture(scope="session")
def reference_text() -> str:
    return language_reference_slice()
