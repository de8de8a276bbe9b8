"""Skipping a whole test folder, with a reason, when the framework it tests is not installed."""

from __future__ import annotations

import importlib.util


def folder_skip(module: str, extra: str, folder: str) -> tuple[list[str], str | None]:
    """``(collect_ignore_glob, reason)`` for a conftest: every test file is ignored, and the reason
    goes into pytest's header, when ``module`` cannot be found."""
    try:
        missing = importlib.util.find_spec(module) is None
    except ModuleNotFoundError:  # a parent package is missing too
        missing = True
    if not missing:
        return [], None
    return ["test_*.py"], f"{folder} skipped: {module} is not installed (pip install 'memorag-integrations[{extra}]')"
