"""Every fenced Python example in README.md and docs/*.md runs as written (offline, in a fresh
process and an empty folder), unless it is marked ``<!-- not run: reason -->``; see
tests/support/doc_examples.py."""

import pytest
from doc_examples import all_blocks, run

RUNNABLE = [block for block in all_blocks() if block.not_run is None]


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.name)
def test_the_example_runs(block):
    done = run(block.code)
    assert done.returncode == 0, f"{block.name} failed:\n{done.stderr[-4000:]}"
