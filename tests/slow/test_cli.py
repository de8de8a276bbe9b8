"""The `memorag` command, run as a real subprocess with the embedded default."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def error_line(result) -> str:
    """The CLI's one-line message: the only line of stderr that says 'memorag: error:'."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("memorag: error:")]
    assert len(lines) == 1 and result.stderr.strip().endswith(lines[0]), result.stderr
    return lines[0]


def memorag(*args, cwd):
    return subprocess.run([sys.executable, "-m", "memorag_integrations.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TQDM_DISABLE": "1"})


def test_memorize_ask_summarize_and_errors(tmp_path, reference_text):
    (tmp_path / "ref.md").write_text(reference_text[:4000], encoding="utf-8")
    done = memorag("memorize", "ref.md", "--save-dir", "corpus", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "memorized 1 document(s)" in done.stdout and (tmp_path / "corpus" / "manifest.json").is_file()

    asked = memorag("ask", "corpus", "What does assert do?", "--json", "-k", "2", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert "Warning" not in asked.stderr  # an ordinary run prints no library deprecation notes
    result = json.loads(asked.stdout)
    assert result["task"] == "memorag" and result["text"] and 1 <= len(result["evidence"]) <= 2
    start, end = result["evidence"][0]["char_span"]
    assert reference_text[start:end] == result["evidence"][0]["text"]

    qa = memorag("ask", "corpus", "What does assert do?", "--task", "qa", cwd=tmp_path)
    assert qa.returncode == 0 and "timings:" in qa.stdout and "first_token" not in qa.stdout  # a pipe: no stream

    streamed = memorag("ask", "corpus", "What does assert do?", "--stream", "-k", "2", cwd=tmp_path)
    assert streamed.returncode == 0 and "[1] ref.md chars" in streamed.stdout
    assert "first_token" in streamed.stdout.splitlines()[-1] and "total" in streamed.stdout.splitlines()[-1]

    kept = memorag("ask", "corpus", "What does assert do?", "--json", "--doc-id", "ref.md", "--where",
                   "source=ref.md", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr
    assert {e["doc_id"] for e in json.loads(kept.stdout)["evidence"]} == {"ref.md"}
    assert all(e["rerank_score"] is not None for e in json.loads(kept.stdout)["evidence"])  # reranked by default
    plain = memorag("ask", "corpus", "What does assert do?", "--json", "--rerank", "0", "--grounding", "off",
                    cwd=tmp_path)
    assert plain.returncode == 0 and all(e["rerank_score"] is None for e in json.loads(plain.stdout)["evidence"])
    unknown = memorag("ask", "corpus", "What does assert do?", "--doc-id", "other.md", cwd=tmp_path)
    assert unknown.returncode == 2 and "no memorized document has the doc_id" in error_line(unknown)
    bad = memorag("ask", "corpus", "What does assert do?", "--where", "source", cwd=tmp_path)
    assert bad.returncode == 2 and "KEY=VALUE" in error_line(bad)

    summary = memorag("summarize", "corpus", "-k", "2", cwd=tmp_path)
    assert summary.returncode == 0 and "[1] ref.md chars" in summary.stdout

    again = memorag("memorize", "ref.md", "--save-dir", "corpus", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in error_line(again)

    missing = memorag("ask", "nowhere", "q", cwd=tmp_path)
    assert missing.returncode == 2 and "not a saved corpus" in error_line(missing)

    empty = memorag("ask", "corpus", "   ", cwd=tmp_path)
    assert empty.returncode == 2 and "query is empty" in error_line(empty)

    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    binary = memorag("memorize", "blob.txt", "--save-dir", "other", cwd=tmp_path)
    assert binary.returncode == 2 and "binary" in error_line(binary) and not (tmp_path / "other").exists()
