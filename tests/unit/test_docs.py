"""The README is a five-minute page that links every reference page in docs/, and every fenced
Python example there either runs (tests/slow/test_doc_examples.py) or says why it does not."""

import re

import pytest
from doc_examples import NOT_RUN, all_blocks, blocks, pages, section
from testdata import ROOT

README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_is_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


def test_every_docs_page_is_linked_from_the_readme():
    linked = {m.split("#")[0] for m in LINK.findall(README.read_text(encoding="utf-8"))}
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in linked, f"the README does not link {page.relative_to(ROOT)}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_that_exist(page):
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.relative_to(ROOT)} links {target}, which does not exist"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_not_run_marker_gives_a_reason_and_stands_before_a_python_block(page):
    text = page.read_text(encoding="utf-8")
    marked = {block.line for block in blocks(page) if block.not_run is not None}
    for match in NOT_RUN.finditer(text):
        assert match.group(1).strip(), f"{page.relative_to(ROOT)}: a not-run marker without a reason"
        after = text[match.end():].lstrip("\n").split("\n", 1)[0].strip()
        assert after.startswith("```python"), (f"{page.relative_to(ROOT)}: the marker {match.group(0)!r} is not "
                                               "on the line before a ```python fence")
    assert len(marked) == len(NOT_RUN.findall(text))


def test_the_readme_shows_the_three_uses_with_examples_that_run():
    for heading in ("Use it from Python", "LangChain", "LlamaIndex"):
        assert "```python" in section(README, heading), heading
    assert all(block.not_run is None for block in blocks(README)), "every README example must run"


def test_the_examples_are_found():
    assert sum(block.not_run is None for block in all_blocks()) >= 5


def test_the_main_jobs_answers_in_the_readme_are_the_corpus_text_at_their_spans():
    """The README shows the answers examples/python_reference.py printed: every quote must be the
    Language Reference's text at the span printed under it."""
    import importlib.util

    from memorag_integrations.extractive import display

    spec = importlib.util.spec_from_file_location("python_reference", ROOT / "examples" / "python_reference.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    reference = job.language_reference()
    shown = section(README, "What the main job prints")
    lines = shown.split("```text", 1)[1].split("```", 1)[0].splitlines()
    where = re.compile(r"^\s+\((\S+) chars (\d+)-(\d+)\)$")
    checked = 0
    for quote, place in zip(lines, lines[1:]):
        if m := where.match(place):
            assert m.group(1) == reference.doc_id
            text = re.sub(r" \[\d+\]$", "", quote.strip())
            assert display(reference.text[int(m.group(2)):int(m.group(3))]) == text
            checked += 1
    quotes = sum(bool(re.search(r" \[\d+\]$", line)) for line in lines)
    assert checked == quotes >= len(job.QUESTIONS)
    assert sum(line.startswith("Q: ") for line in lines) == len(job.QUESTIONS)
