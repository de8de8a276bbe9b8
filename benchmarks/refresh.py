"""Recompute a saved suite result's comparisons with dense retrieval and rewrite its files, after the
compared scores (``run.PAIRED_FIELDS``) change; the per-question records and means are kept as run.

    python -m benchmarks.refresh benchmarks/results/rerank/hotpot-heldout.json [...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from memorag_integrations.errors import InvalidInputError

from benchmarks import report
from benchmarks.run import versus


def refresh(path: Path) -> list[Path]:
    """Rewrite ``path`` (a suite's ``{tag}.json``) and its Markdown and plots with fresh comparisons."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InvalidInputError(f"{path} is not a JSON result file ({e}); pass a suite's {{tag}}.json") from e
    if not isinstance(result, dict) or not result.get("questions"):
        raise InvalidInputError(f"{path} holds no per-question records; only a suite's result file can be refreshed")
    result["versus_dense"] = versus(result["questions"])
    return report.write(result, path.parent, tag=path.stem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="suite result files ({suite}-{split}...json)")
    for path in parser.parse_args().results:
        print(*refresh(path), sep="\n")


if __name__ == "__main__":
    main()
