"""The fenced Python examples of README.md and docs/*.md, and running one as a reader would.

A block that cannot run offline, or would take too long, is marked on the line just before its
fence with ``<!-- not run: the reason -->``. Every other block runs as written: in a fresh Python
process (a fresh namespace), in an empty temporary working folder, with the hub switched off so
only the embedded offline models can load. A block's run is kept for the test session, so the
tests that check one page's example more closely reuse it instead of running it again.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

from testdata import ROOT

#: The marker, alone on its line (a mention inside a sentence is not one).
NOT_RUN = re.compile(r"^[ \t]*<!--[ \t]*not run:(.*?)-->[ \t]*$", re.M)
#: A fenced Python block, also one indented inside a list item (its code is dedented).
FENCE = re.compile(r"^([ \t]*)```python[ \t]*\n(.*?)^\1```[ \t]*$", re.M | re.S)
#: Seconds one example may take on a slow, shared CPU.
TIMEOUT = 1200


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    code: str
    not_run: str | None  # the reason, when it is marked not to run

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.fullmatch(before.strip())
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, textwrap.dedent(match.group(2)),
                           marker.group(1).strip() if marker else None))
    return found


def section(page: Path, heading: str) -> str:
    """The text of the ``## heading`` section of ``page``."""
    text = page.read_text(encoding="utf-8")
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


@functools.cache
def run(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as a reader would (see the module's docstring); kept for the session."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="doc-example-") as folder:
        return subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT)
