"""Skip this folder, saying why, when the framework it tests is not installed."""

import importlib.util

try:
    MISSING = importlib.util.find_spec("langchain_core") is None
except ModuleNotFoundError:  # a parent package is missing too
    MISSING = True
REASON = "langchain/tests skipped: langchain_core is not installed (pip install 'memorag-integrations[langchain]')"
collect_ignore_glob = ["test_*.py"] if MISSING else []


def pytest_report_header(config):
    return REASON if MISSING else None
