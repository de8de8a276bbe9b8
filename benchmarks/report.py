"""Results as files: full JSON, a Markdown table, and PNG plots (recall@k per method; latency)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

# Columns of the Markdown table, in order, when a suite has them: (field, header).
COLUMNS = [
    ("fact_recall@5", "facts@5"), ("fact_recall@10", "facts@10"), ("all_docs@10", "all docs@10"),
    ("contains", "answer acc"),
    ("recall_any@3", "R@3 any"), ("recall_any@5", "R@5 any"), ("recall_any@10", "R@10 any"),
    ("recall_all@3", "R@3 both"), ("recall_all@5", "R@5 both"), ("recall_all@10", "R@10 both"),
    ("recall@1", "R@1"), ("recall@5", "R@5"), ("recall@10", "R@10"),
    ("em", "EM"), ("f1", "F1"), ("rougeL", "ROUGE-L"),
    ("retrieval_s", "retrieval s/q"), ("model_calls", "calls/q"), ("answer_s", "answer s/q"), ("n", "n"),
]


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole, through a temporary file: a run stopped mid-write leaves the
    old file, never half of a new one."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # one per writer
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write(result: dict[str, Any], folder: Path, *, tag: str) -> list[Path]:
    """Write ``{tag}.json``, ``{tag}.md`` and ``{tag}.png`` (when there is something to plot)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{tag}.json", folder / f"{tag}.md"]
    replace_text(paths[0], json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    replace_text(paths[1], markdown(result, tag))
    png = folder / f"{tag}.png"
    if (plot_latency if result.get("suite") == "speed" else plot_recall)(result, png, tag):
        paths.append(png)
    versus_png = folder / f"{tag}-vs-dense.png"
    if plot_versus(result, versus_png, tag):
        paths.append(versus_png)
    return paths


def save_figures(result: dict[str, Any], text: str, folder: Path, name: str) -> None:
    """A standalone benchmark's figures: ``{name}.json`` (everything) and ``{name}.md`` (``text``), printed too."""
    folder.mkdir(parents=True, exist_ok=True)
    replace_text(folder / f"{name}.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    replace_text(folder / f"{name}.md", text.rstrip("\n") + "\n")
    print(text)


def table(summary: dict[str, dict[str, float]]) -> str:
    """A Markdown table: one row per method, the columns the summary has."""
    present = [(key, head) for key, head in COLUMNS if any(key in row for row in summary.values())]
    lines = ["| method | " + " | ".join(h for _, h in present) + " |",
             "| --- | " + " | ".join("---:" for _ in present) + " |"]
    for method, row in summary.items():
        cells = [_cell(row.get(key), key) for key, _ in present]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: float | None, key: str) -> str:
    if value is None:
        return "–"
    if key == "n":
        return str(int(value))
    return f"{value:.2f}" if key.endswith("_s") else f"{value:.3f}"


def markdown(result: dict[str, Any], tag: str) -> str:
    env = result.get("environment", {})
    parts = [f"# {tag}", ""]
    if result.get("partial"):
        parts += [f"Partial: the run was stopped after {len(result.get('questions', []))} question(s).", ""]
    if result.get("suite") == "speed":
        parts.append(speed_table(result))
    else:
        parts.append(table(result["summary"]))
        if result.get("versus_dense"):
            parts += ["", "Against dense retrieval, question by question (mean difference, paired bootstrap 95% "
                          "interval, wins / ties / losses):", "", versus_table(result["versus_dense"])]
        for baseline, paired in (result.get("versus_pipeline") or {}).items():
            parts += ["", f"Against the same pipeline without the memory ({baseline}), question by question:", "",
                      versus_table(paired)]
        for key in ("by_haystack_words", "by_depth"):
            if key in result:
                parts += ["", f"recall_any@5 {key.replace('_', ' ')}:", "", group_table(result[key])]
    parts += ["", f"Machine: {env.get('machine')}, {env.get('cpus')} CPUs, Python {env.get('python')}, "
                  f"torch {env.get('torch')}; load average {env.get('load_average_1_5_15')} at {env.get('date')}; "
                  f"wall {result.get('wall_s')} s.", ""]
    return "\n".join(parts)


def versus_table(versus: dict[str, dict[str, dict[str, float]]]) -> str:
    """One row per method, one column per compared score: ``+0.040 [-0.02, +0.10] 5/40/3``."""
    fields = list(dict.fromkeys(f for row in versus.values() for f in row))
    heads = {key: head for key, head in COLUMNS}
    lines = ["| method | " + " | ".join(heads.get(f, f) for f in fields) + " |",
             "| --- | " + " | ".join("---:" for _ in fields) + " |"]
    for method, row in versus.items():
        cells = [_versus_cell(row[f]) if f in row else "–" for f in fields]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _versus_cell(c: dict[str, float]) -> str:
    return f"{c['diff']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}] {c['wins']}/{c['ties']}/{c['losses']}"


def group_table(groups: dict[str, dict[str, float]]) -> str:
    keys = sorted({g for row in groups.values() for g in row}, key=lambda g: float(g) if _is_number(g) else 0)
    lines = ["| method | " + " | ".join(keys) + " |", "| --- | " + " | ".join("---:" for _ in keys) + " |"]
    lines += [f"| {m} | " + " | ".join(f"{row[g]:.2f}" if g in row else "–" for g in keys) + " |"
              for m, row in groups.items()]
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def speed_table(result: dict[str, Any]) -> str:
    # A row that found the gists of a shorter document in its cache reads only the rest: its
    # throughput is that of the new text.
    lines = ["| backend | doc tokens | gists cached | prefill tok/s | memorize s | memorize tok/s (new text) | "
             "share of prefill | load s | folder KB / 1k tok | p50 expand | p50 retrieve | p50 answer | "
             "p50 total | p95 total | first answer token p50 | uncached p50 total | uncached / cached | "
             "memory call first token: cached / re-read (ratio) | peak RSS MB |",
             "| --- | " + " | ".join("---:" for _ in range(18)) + " |"]
    for row in result["runs"]:
        p50, p95 = row["latency_p50_s"], row["latency_p95_s"]
        uncached = row.get("uncached_p50_s", {}).get("total")
        ratio = f"{uncached / p50['total']:.1f}×" if uncached and p50.get("total") else "–"
        first = row.get("memory_first_token_s")
        reuse = (f"{first['cached']:.2f} / {first['reread']:.2f} s ({first['reuse_ratio']:.0f}×, "
                 f"{first['memory_tokens']} tok)" if first else "–")
        lines.append(
            f"| {row['backend']} | {row['document_tokens']} | {row.get('gists_cached', 0)} "
            f"| {_fmt(row.get('prefill_tokens_per_s'), '.0f')} | {row['memorize_s']:.0f} "
            f"| {row['memorize_tokens_per_s']:.0f} | {_fmt(row.get('memorize_share_of_prefill'), '.0%')} "
            f"| {row['load_s']:.2f} | {row['folder_kb_per_1k_tokens']:.0f} | {p50['expand']:.2f} "
            f"| {p50['retrieve']:.3f} | {p50['generate']:.2f} | {p50['total']:.2f} | {p95['total']:.2f} "
            f"| {_fmt(row.get('first_answer_token_p50_s'), '.2f')} "
            f"| {uncached if uncached is None else f'{uncached:.2f}'} | {ratio} | {reuse} | {row['peak_rss_mb']:.0f} |")
    lines += exact_ratios(result["runs"])
    gains = [row for row in result["runs"] if row.get("parallel")]
    if gains:
        lines += ["", "Decoding together (seconds):", "",
                  "| backend | 4 gist sections one at a time | in one batch | speed-up | a query's memory calls one "
                  "at a time (p50) | in one request (p50) | speed-up |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for row in gains:
            g = row["parallel"]
            lines.append(
                f"| {row['backend']} | {g['gist_4_sections_alone_s']:.1f} | {g['gist_4_sections_batched_s']:.1f} "
                f"| {g['gist_4_sections_alone_s'] / g['gist_4_sections_batched_s']:.2f}× "
                f"| {g['expand_calls_alone_p50_s']:.2f} | {g['expand_one_call_p50_s']:.2f} "
                f"| {g['expand_calls_alone_p50_s'] / g['expand_one_call_p50_s']:.2f}× |")
    sized = [row for row in result["runs"] if row.get("int8_folder_kb_per_1k_tokens") is not None]
    if sized:  # KB per 1k tokens / 10 = MB per 100k
        lines += ["", "Saved folder, MB per 100k document tokens (a KV cache is most of a folder that holds one):", "",
                  "| backend | doc tokens | memory tokens | default save | KV cache saved | first memory call "
                  "after load s | with the cache, float16 | with the cache, int8 |",
                  "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
        for r in sized:  # rows saved before the default could leave the cache out always kept it
            memory_tokens = (r.get("memory_first_token_s") or {}).get("memory_tokens", "–")
            kv = r.get("kv_folder_kb_per_1k_tokens", r["folder_kb_per_1k_tokens"])
            lines.append(f"| {r['backend']} | {r['document_tokens']} | {memory_tokens} "
                         f"| {r['folder_kb_per_1k_tokens'] / 10:.1f} | {'yes' if r.get('kv_saved', True) else 'no'} "
                         f"| {_fmt(r.get('memory_first_call_s'), '.2f')} | {kv / 10:.1f} "
                         f"| {r['int8_folder_kb_per_1k_tokens'] / 10:.1f} |")
    reuse = result.get("memory_first_token", [])
    if reuse:
        lines += ["", "A memory call's first token with a full memory (seconds):", "",
                  "| backend | memory tokens | cached | read again | ratio |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['backend']} | {r['memory_tokens']} | {r['cached_s']:.2f} | {r['reread_s']:.2f} "
                  f"| {r['reuse_ratio']:.0f}× |" for r in reuse]
    return "\n".join(lines)


#: The speed suite's row of the exact path (benchmarks.speed.EXACT), the one each default is held against.
EXACT_BACKEND = "transformers, exact"


def exact_ratios(runs: list[dict[str, Any]]) -> list[str]:
    """Each backend's figures as multiples of the exact path's on the same document in the same run."""
    exact = {r["document_tokens"]: r for r in runs if r["backend"] == EXACT_BACKEND}
    pairs = [(r, exact[r["document_tokens"]]) for r in runs
             if r["backend"] != EXACT_BACKEND and r["document_tokens"] in exact]
    if not pairs:
        return []
    lines = ["", "Against the exact path (float32, written gists, clues) on the same document, same run:", "",
             "| backend | doc tokens | memorize tok/s | × exact | p50 total s | exact's | first answer token s "
             "| the same, sentences embedded per query | exact's |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r, e in pairs:
        lines.append(f"| {r['backend']} | {r['document_tokens']} | {r['memorize_tokens_per_s']:.0f} "
                     f"| {r['memorize_tokens_per_s'] / e['memorize_tokens_per_s']:.2f}× "
                     f"| {r['latency_p50_s']['total']:.2f} | {e['latency_p50_s']['total']:.2f} "
                     f"| {_fmt(r.get('first_answer_token_p50_s'), '.2f')} "
                     f"| {_fmt(r.get('first_answer_token_unkept_p50_s'), '.2f')} "
                     f"| {_fmt(e.get('first_answer_token_p50_s'), '.2f')} |")
    return lines


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def plot_recall(result: dict[str, Any], path: Path, title: str) -> bool:
    """Grouped bars of recall@k (each k a bar) per method, one panel per kind of recall present
    (any gold, both golds, by id); False when the suite has no recall."""
    summary = result.get("summary", {})
    present = [key for key, _ in COLUMNS if key.startswith("recall") and any(key in r for r in summary.values())]
    panels = [(label, [k for k in present if k.startswith(prefix)])
              for prefix, label in (("recall_any", "any gold"), ("recall_all", "both golds"), ("recall@", "by id"))]
    panels = [(label, keys) for label, keys in panels if keys]
    methods = [m for m in summary if any(k in summary[m] for k in present)]
    if not panels or not methods:
        return _plot_answers(result, path, title)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * max(6.0, 1.2 * len(methods) + 3), 4),
                             squeeze=False)
    for ax, (label, keys) in zip(axes[0], panels):
        width = 0.8 / len(keys)
        for i, key in enumerate(keys):
            xs = [j + (i - (len(keys) - 1) / 2) * width for j in range(len(methods))]
            bars = ax.bar(xs, [summary[m].get(key, 0) for m in methods], width, label=f"@{key.split('@')[1]}")
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.set_xticks(range(len(methods)), methods, rotation=20)
        ax.set_ylim(0, 1.25)  # head room for the legend above the bars
        ax.set_ylabel(f"evidence recall ({label})")
        ax.legend(fontsize=8, ncol=len(keys), loc="upper center")
    n = max(summary[m].get("n", 0) for m in methods)
    fig.suptitle(f"{title}: recall@k per method (n={n:.0f})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_answers(result: dict[str, Any], path: Path, title: str) -> bool:
    summary = result.get("summary", {})
    keys = [k for k in ("rougeL", "f1") if any(k in r for r in summary.values())]
    if not keys:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(summary)
    fig, ax = plt.subplots(figsize=(1.2 * len(methods) + 3, 4))
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        xs = [j + (i - (len(keys) - 1) / 2) * width for j in range(len(methods))]
        ax.bar_label(ax.bar(xs, [summary[m].get(key, 0) for m in methods], width, label=key), fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(methods)), methods, rotation=20)
    ax.set_ylabel("answer score")
    ax.set_title(f"{title}: answer quality per method")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_versus(result: dict[str, Any], path: Path, title: str) -> bool:
    """Each method's mean difference from dense with its 95% interval, one panel per score; False
    when nothing was compared."""
    versus = result.get("versus_dense") or {}
    fields = list(dict.fromkeys(f for row in versus.values() for f in row))
    if not fields:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(versus)
    heads = dict(COLUMNS)
    fig, axes = plt.subplots(1, len(fields), figsize=(3.6 * len(fields) + 1, 0.45 * len(methods) + 1.6),
                             squeeze=False, sharey=True)
    for ax, f in zip(axes[0], fields):
        for y, m in enumerate(methods):
            c = versus[m].get(f)
            if c:
                ax.errorbar(c["diff"], y, xerr=[[c["diff"] - c["low"]], [c["high"] - c["diff"]]], fmt="o",
                            color="tab:green" if c["low"] > 0 else "tab:red" if c["high"] < 0 else "tab:gray")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{heads.get(f, f)} minus dense", fontsize=9)
        ax.set_yticks(range(len(methods)), methods, fontsize=8)
    n = max(c["n"] for row in versus.values() for c in row.values())
    fig.suptitle(f"{title}: difference from dense, paired bootstrap 95% interval (n={n})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_latency(result: dict[str, Any], path: Path, title: str) -> bool:
    """Stacked bars of cached query latency (expand / retrieve / generate) per backend and size,
    beside the same query with the memory re-read."""
    runs = result.get("runs", [])
    if not runs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, stacks = [], []
    for row in runs:
        for kind, key in (("cached", "latency_p50_s"), ("re-read", "uncached_p50_s")):
            if row.get(key):
                labels.append(f"{row['backend']}\n{round(row['document_tokens'] / 1000)}k tok, {kind}")
                stacks.append([row[key].get(stage, 0.0) for stage in ("expand", "retrieve", "generate")])
    fig, ax = plt.subplots(figsize=(1.6 * len(labels) + 2, 4))
    bottom = [0.0] * len(labels)
    for i, stage in enumerate(("expand", "retrieve", "generate")):
        heights = [s[i] for s in stacks]
        ax.bar(range(len(labels)), heights, 0.6, bottom=bottom, label=stage)
        bottom = [b + h for b, h in zip(bottom, heights)]
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{total:.1f}s", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("seconds per query (p50)")
    ax.set_title(f"{title}: query latency breakdown (load avg {result['environment']['load_average_1_5_15'][0]})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# Headline columns of the combined table: (suite, field, header).
HEADLINE = [("hotpot", "recall_any@5", "hotpot R@5 any"), ("hotpot", "recall_all@5", "hotpot R@5 both"),
            ("hotpot", "f1", "hotpot F1"), ("legal", "recall_any@5", "legal R@5"), ("legal", "f1", "legal F1"),
            ("needle", "recall_any@5", "needle R@5"), ("review", "rougeL", "review ROUGE-L"),
            ("hotpot", "retrieval_s", "hotpot retrieval s/q")]


def combine(folder: Path, suffix: str) -> Path | None:
    """One Markdown table of the headline metric of every suite run with ``suffix`` (e.g.
    ``dev-quick``): ``summary-{suffix}.md``. Suites not run yet are left out."""
    summaries = {}
    for suite in {s for s, _, _ in HEADLINE}:
        path = folder / f"{suite}-{suffix}.json"
        if path.is_file():
            summaries[suite] = json.loads(path.read_text(encoding="utf-8"))["summary"]
    columns = [(s, f, h) for s, f, h in HEADLINE if s in summaries]
    if not columns:
        return None
    methods = list(dict.fromkeys(m for s in summaries.values() for m in s))
    lines = ["| method | " + " | ".join(h for _, _, h in columns) + " |",
             "| --- | " + " | ".join("---:" for _ in columns) + " |"]
    for m in methods:
        cells = [_cell(summaries[s].get(m, {}).get(f), f) for s, f, _ in columns]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    nq = folder / f"nqopen-{suffix}.json"
    if nq.is_file():
        dense = json.loads(nq.read_text(encoding="utf-8"))["summary"]["dense"]
        lines += ["", f"nqopen, dense only over 2,600 passages (n={dense['n']}): R@1 {dense['recall@1']:.3f}, "
                      f"R@5 {dense['recall@5']:.3f}, R@10 {dense['recall@10']:.3f}."]
    path = folder / f"summary-{suffix}.md"
    replace_text(path, f"# Benchmarks, {suffix}\n\n" + "\n".join(lines) + "\n")
    return path
