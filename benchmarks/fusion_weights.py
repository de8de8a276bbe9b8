"""Re-rank a finished run's MemoRAG searches under other fusion settings, without writing a clue.

    python -m benchmarks.fusion_weights benchmarks/results/hotpot-dev.json [--weights 1 2 4 8 n]
        [--rrf-k 60 10]   (default: the engine's constant)

The clues each question got are read from the results file; the memorized corpus comes from the
benchmark cache (the run that wrote the file saved it), so only the searches are repeated. A weight
``n`` gives the user's query as much weight as all its clues together (the engine's default);
``--reparse`` first drops the recorded clues that today's clue parser rejects; ``--rrf-k`` tries
other constants of reciprocal-rank fusion (a smaller one lets rank count for more than being found
by many searches). A ``dense`` row (the query alone) is the baseline. Use it on dev only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from memorag_integrations.prompts import parse_items
from memorag_integrations.retrieval.fusion import DEFAULT_RRF_K
from memorag_integrations.schema import Clues

from benchmarks import data as datasets
from benchmarks import metrics
from benchmarks.run import Models, Settings, engine_for, load_tasks

METHODS = ("memorag", "memorag_draft")


def query_weight(weight: str, n_clues: int) -> float:
    """``"3"`` is a fixed weight; ``"n"`` or ``"0.5n"`` a multiple of the number of clues."""
    if weight.endswith("n"):
        return max(1.0, float(weight[:-1] or 1) * n_clues)
    return float(weight)


def still_parsed(queries: list[str]) -> list[str]:
    """The recorded one-line clues the current parser keeps (a multi-line draft answer is kept whole)."""
    return [q for q in queries if "\n" in q or parse_items(q, max_items=1)]


def rerank(result: dict, weights: list[str], data: Path, ks=(3, 5, 10), *, reparse: bool = False,
           rrf_ks: tuple[int, ...] = (DEFAULT_RRF_K,)) -> dict[str, dict[str, float]]:
    """``{method@weight[/rrf K]: {recall_any@k, recall_all@k: mean}}`` over the questions that have
    gold, plus ``dense``."""
    fields = {k: v for k, v in result["settings"].items() if k in Settings.__dataclass_fields__}
    sizes = {result["suite"]: result["settings"]["sizes"]}
    settings = Settings(**{**fields, "methods": tuple(fields["methods"]), "sizes": sizes})
    models = Models(settings)
    recorded = {q["qid"]: q for q in result["questions"]}
    scores: dict[str, dict[str, list[float]]] = {}
    for task in load_tasks(result["suite"], settings, data):
        engine, _ = engine_for(task, models, settings)
        for q in task.questions:
            if q.qid not in recorded or not q.gold:
                continue
            runs = [("dense", [], "1", DEFAULT_RRF_K)]  # one ranking: the constant changes no order
            for method in METHODS:
                queries = recorded[q.qid]["methods"].get(method, {}).get("queries")
                if queries is not None:
                    queries = still_parsed(queries) if reparse else queries
                    runs += [(method, queries, w, r) for w in weights for r in rrf_ks]
            for method, queries, weight, rrf_k in runs:
                engine.query_weight, engine.rrf_k = query_weight(weight, len(queries)), rrf_k
                got = [(e.doc_id, *e.char_span) for e in engine.retrieve(q.question, settings.depth, Clues(queries))]
                tuned = f"{method}@{weight}" + (f"/rrf{rrf_k}" if len(rrf_ks) > 1 else "")
                name = method if method == "dense" else tuned
                row = scores.setdefault(name, {})
                for k in ks:
                    row.setdefault(f"recall_any@{k}", []).append(metrics.recall_any(got, q.gold, k))
                    if len(q.gold) > 1:
                        row.setdefault(f"recall_all@{k}", []).append(metrics.recall_all(got, q.gold, k))
    return {name: {key: round(metrics.mean(v), 3) for key, v in row.items()} for name, row in scores.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fusion_weights", description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a suite's results JSON (hotpot, legal or needle)")
    parser.add_argument("--weights", nargs="+", default=["1", "2", "4", "8", "n"])
    parser.add_argument("--reparse", action="store_true", help="drop clues the current parser rejects")
    parser.add_argument("--rrf-k", type=int, nargs="+", default=[DEFAULT_RRF_K],
                        help="reciprocal-rank fusion constants to try")
    parser.add_argument("--data", type=Path, default=datasets.DEFAULT_DATA)
    args = parser.parse_args(argv)
    table = rerank(json.loads(args.results.read_text()), args.weights, args.data, reparse=args.reparse,
                   rrf_ks=tuple(args.rrf_k))
    keys = sorted({k for row in table.values() for k in row})
    print("| method@query weight | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row.get(k, float('nan')):.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
