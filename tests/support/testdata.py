"""Paths and real text shared by every test folder (core, LangChain, LlamaIndex)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def language_reference_slice(topics=("assert", "break", "continue", "for", "while", "try", "with", "global")) -> str:
    """A slice of the Python Language Reference (shipped with CPython) as real test text."""
    import pydoc_data.topics

    return "\n\n".join(f"{name}\n{'=' * len(name)}\n\n{pydoc_data.topics.topics[name].strip()}" for name in topics)
