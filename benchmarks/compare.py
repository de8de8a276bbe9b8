"""One method of one run against one method of another, question by question: the quality check
of an option that changes outputs (int8, extracted gists, no clues) against the exact path.

    python -m benchmarks.compare NEW.json:METHOD OLD.json:METHOD [--out FILE.md]

Both runs must hold the same questions (the same suite and split). For every score both have, it
prints the mean of each, the paired difference with its bootstrap 95% interval and wins / ties /
losses, how many questions got other chunks (or the same in another order), and the seconds per
query of each side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks import metrics
from benchmarks.report import replace_text
from benchmarks.run import PAIRED_FIELDS


def side(spec: str) -> tuple[Path, str]:
    """``FILE.json:METHOD`` as its path and method."""
    path, sep, method = spec.rpartition(":")
    if not sep or not path or not method:
        raise SystemExit(f"{spec!r}: give a run's JSON and a method, as FILE.json:METHOD")
    return Path(path), method


def records(path: Path, method: str) -> dict[str, dict[str, Any]]:
    """The method's record for each question of the run at ``path``, by question id."""
    run = json.loads(path.read_text(encoding="utf-8"))
    found = {r["qid"]: r["methods"][method] for r in run["questions"] if method in r["methods"]}
    if not found:
        raise SystemExit(f"{path} has no question answered by {method!r}")
    return found


def chunk_set(record: dict[str, Any]) -> set[tuple]:
    return {tuple(c) for c in record.get("chunks", [])}


def compare(new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The paired comparison of two methods' records over the questions both have."""
    shared = [q for q in new if q in old]
    if len(shared) < len(new) or len(shared) < len(old):
        raise SystemExit(f"the runs hold other questions ({len(new)} and {len(old)}, {len(shared)} shared): "
                         "compare runs of the same suite and split")
    out: dict[str, Any] = {"questions": len(shared), "fields": {}}
    for name in PAIRED_FIELDS:
        pairs = [(new[q][name], old[q][name]) for q in shared if name in new[q] and name in old[q]]
        if pairs:
            ours, theirs = zip(*pairs)
            out["fields"][name] = {"new": metrics.mean(ours), "old": metrics.mean(theirs),
                                   **metrics.paired_bootstrap(ours, theirs)}
    out["reordered"] = sum(new[q].get("chunks") != old[q].get("chunks") for q in shared)
    out["other_evidence"] = sum(chunk_set(new[q]) != chunk_set(old[q]) for q in shared)
    out["seconds"] = {"new": metrics.mean([new[q]["retrieval_s"] for q in shared]),
                      "old": metrics.mean([old[q]["retrieval_s"] for q in shared])}
    return out


def markdown(result: dict[str, Any], new: str, old: str) -> str:
    lines = [f"# {new} against {old}", "",
             f"{result['questions']} questions; {result['other_evidence']} got other chunks in their ranked list, "
             f"{result['reordered']} another list or order; seconds a query "
             f"(retrieval, clues included): {result['seconds']['new']:.2f} against {result['seconds']['old']:.2f}.", "",
             "| score | new | old | new - old [95% CI] | wins / ties / losses |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, c in result["fields"].items():
        lines.append(f"| {name} | {c['new']:.3f} | {c['old']:.3f} | {c['diff']:+.3f} [{c['low']:+.3f}, "
                     f"{c['high']:+.3f}] | {c['wins']}/{c['ties']}/{c['losses']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.splitlines()[0])
    parser.add_argument("new", help="FILE.json:METHOD, the option under test")
    parser.add_argument("old", help="FILE.json:METHOD, the path it must not fall below")
    parser.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args(argv)
    (new_path, new_method), (old_path, old_method) = side(args.new), side(args.old)
    result = compare(records(new_path, new_method), records(old_path, old_method))
    text = markdown(result, f"{new_path.name}:{new_method}", f"{old_path.name}:{old_method}")
    print(text)
    if args.out is not None:
        replace_text(args.out, text)


if __name__ == "__main__":
    main()
