"""Tests with real models, real servers and notebooks: every one here is marked ``slow``
(``pytest -m "not slow"`` runs the unit tests alone, in seconds)."""

import pytest
from llama_server import llama_server_url  # noqa: F401  (a fixture: a llama.cpp server on loopback)


def pytest_collection_modifyitems(config, items):
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.slow)
