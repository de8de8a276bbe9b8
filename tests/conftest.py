import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for `from fakes import ...`

ROOT = Path(__file__).resolve().parents[1]


def language_reference_slice(topics=("assert", "break", "continue", "for", "while", "try", "with", "global")) -> str:
    """A slice of the Python Language Reference (shipped with CPython) as real test text."""
    import pydoc_data.topics

    return "\n\n".join(f"{name}\n{'=' * len(name)}\n\n{pydoc_data.topics.topics[name].strip()}" for name in topics)


@pytest.fixture(scope="session")
def reference_text() -> str:
    return language_reference_slice()
