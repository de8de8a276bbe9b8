"""Benchmark results as files: JSON that round-trips, a Markdown table per method, real PNG plots."""

import json


from benchmarks import report  # noqa: E402
from benchmarks.run import by_group, summarize, versus  # noqa: E402

ENV = {"machine": "x86_64", "cpus": 2, "python": "3.11", "torch": "2", "load_average_1_5_15": [1.0, 1.0, 1.0],
       "date": "today"}


def questions():
    return [
        {"qid": "a", "info": {"depth": 0.0}, "methods": {
            "dense": {"recall_any@5": 1.0, "recall_all@5": 0.0, "f1": 0.5, "retrieval_s": 0.1, "answer": "x"},
            "memorag": {"recall_any@5": 1.0, "recall_all@5": 1.0, "f1": 1.0, "retrieval_s": 2.0},
            "qa": {"f1": 0.0, "retrieval_s": 1.0}}},
        {"qid": "b", "info": {"depth": 0.5}, "methods": {
            "dense": {"recall_any@5": 0.0, "recall_all@5": 0.0, "f1": 0.0, "retrieval_s": 0.3},
            "memorag": {"recall_any@5": 1.0, "recall_all@5": 0.0, "f1": 0.0, "retrieval_s": 4.0},
            "qa": {"f1": 1.0, "retrieval_s": 3.0}}},
    ]


def test_versus_compares_each_method_with_dense_question_by_question(tmp_path):
    table = versus(questions())
    assert set(table) == {"memorag", "qa"} and set(table["qa"]) == {"f1"}  # only what both have
    assert table["memorag"]["recall_all@5"]["diff"] == 0.5 and table["memorag"]["recall_all@5"]["wins"] == 1
    assert table["memorag"]["recall_any@5"]["ties"] == 1 and table["memorag"]["f1"]["diff"] == 0.25
    result = {"suite": "hotpot", "questions": questions(), "summary": summarize(questions()),
              "versus_dense": table, "environment": ENV}
    paths = report.write(result, tmp_path, tag="t")
    md = paths[1].read_text()
    assert "Against dense retrieval" in md and "| memorag | +0.500 [" in md and "1/1/0" in md
    assert paths[-1].name == "t-vs-dense.png" and paths[-1].read_bytes()[:4] == b"\x89PNG"


def test_refresh_recomputes_the_comparisons_of_a_saved_result(tmp_path):
    import pytest

    from benchmarks.refresh import refresh
    from memorag_integrations.errors import InvalidInputError

    records = questions()
    records[0]["methods"]["dense"]["recall_all@3"] = 0.0
    records[0]["methods"]["memorag"]["recall_all@3"] = 1.0
    saved = {"suite": "hotpot", "questions": records, "summary": summarize(records), "environment": ENV,
             "versus_dense": {}}
    path = tmp_path / "hotpot-heldout.json"
    path.write_text(json.dumps(saved))
    written = refresh(path)
    again = json.loads(path.read_text())
    assert again["questions"] == records and again["summary"] == saved["summary"]
    assert again["versus_dense"]["memorag"]["recall_all@3"]["wins"] == 1
    assert "| method | R@3 both | R@5 both |" in (tmp_path / "hotpot-heldout.md").read_text()
    assert tmp_path / "hotpot-heldout-vs-dense.png" in written
    path.write_text(json.dumps({"suite": "speed", "rows": []}))
    with pytest.raises(InvalidInputError, match="per-question"):
        refresh(path)
    path.write_text("{ half a file")
    with pytest.raises(InvalidInputError, match="not a JSON result"):
        refresh(path)


def test_a_result_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    import pathlib

    import pytest

    path = tmp_path / "hotpot-dev.json"
    report.replace_text(path, "old")

    def interrupted(self, target):
        raise KeyboardInterrupt  # a run stopped between writing and renaming

    monkeypatch.setattr(pathlib.Path, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.replace_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["hotpot-dev.json"]  # no half-written file left behind


def test_summarize_means_numeric_fields_per_method():
    summary = summarize(questions())
    assert summary["dense"] == {"recall_any@5": 0.5, "recall_all@5": 0.0, "f1": 0.25, "retrieval_s": 0.2, "n": 2}
    assert summary["memorag"]["recall_all@5"] == 0.5 and summary["qa"] == {"f1": 0.5, "retrieval_s": 2.0, "n": 2}
    assert by_group({"questions": questions()}, "depth") == {"dense": {"0.0": 1.0, "0.5": 0.0},
                                                             "memorag": {"0.0": 1.0, "0.5": 1.0}}


def test_write_gives_json_markdown_and_png(tmp_path):
    result = {"suite": "hotpot", "questions": questions(), "summary": summarize(questions()), "environment": ENV,
              "wall_s": 3.0}
    paths = report.write(result, tmp_path, tag="hotpot-dev-quick")
    assert [p.name for p in paths] == ["hotpot-dev-quick.json", "hotpot-dev-quick.md", "hotpot-dev-quick.png"]
    assert json.loads(paths[0].read_text())["summary"] == result["summary"]
    md = paths[1].read_text()
    assert "| method | R@5 any | R@5 both | F1 | retrieval s/q | n |" in md
    assert "| memorag | 1.000 | 0.500 | 0.500 | 3.00 | 2 |" in md and "| qa | – | – | 0.500 | 2.00 | 2 |" in md
    assert "load average [1.0, 1.0, 1.0]" in md
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[2].stat().st_size > 5000


def test_recall_plot_has_a_panel_for_any_gold_and_one_for_both_golds(tmp_path):
    import matplotlib.image

    both = {"suite": "hotpot", "summary": summarize(questions()), "environment": ENV}
    only_any = {"suite": "needle", "summary": {m: {k: v for k, v in row.items() if not k.startswith("recall_all")}
                                               for m, row in both["summary"].items()}, "environment": ENV}
    width = {tag: matplotlib.image.imread(report.write(r, tmp_path, tag=tag)[-1]).shape[1]
             for tag, r in (("both", both), ("any", only_any))}
    assert width["both"] == 2 * width["any"]


def test_answer_only_suites_plot_answer_scores(tmp_path):
    summary = {"dense": {"rougeL": 0.2, "f1": 0.1, "n": 1}, "memorag": {"rougeL": 0.3, "f1": 0.2, "n": 1}}
    paths = report.write({"suite": "review", "summary": summary, "environment": ENV}, tmp_path, tag="review")
    assert paths[-1].suffix == ".png" and "ROUGE-L" in paths[1].read_text()


def test_speed_results_get_a_table_and_a_latency_plot(tmp_path):
    stages = {"expand": 2.0, "retrieve": 0.05, "generate": 1.0, "total": 3.05}
    row = {"backend": "transformers", "document_tokens": 10000, "gists_cached": 3, "memorize_s": 28.0,
           "memorize_tokens_per_s": 250.0, "load_s": 0.5,
           "folder_kb_per_1k_tokens": 900.0, "latency_p50_s": stages, "latency_p95_s": stages,
           "uncached_p50_s": {**stages, "total": 9.15}, "peak_rss_mb": 1500.0,
           "prefill_tokens_per_s": 400.0, "memorize_share_of_prefill": 0.625, "first_answer_token_p50_s": 2.4,
           "memory_first_token_s": {"cached": 0.1, "reread": 6.0, "memory_tokens": 4000, "reuse_ratio": 60.0},
           "parallel": {"gist_4_sections_alone_s": 40.0, "gist_4_sections_batched_s": 32.0,
                        "expand_calls_alone_p50_s": 3.0, "expand_one_call_p50_s": 2.0},
           "int8_folder_kb_per_1k_tokens": 465.0}
    old = {k: v for k, v in row.items() if k not in ("prefill_tokens_per_s", "memorize_share_of_prefill",
                                                     "first_answer_token_p50_s", "memory_first_token_s", "parallel",
                                                     "int8_folder_kb_per_1k_tokens")}
    reuse = [{"backend": "transformers", "memory_tokens": 3900, "cached_s": 0.2, "reread_s": 15.0, "reuse_ratio": 75.0}]
    paths = report.write({"suite": "speed", "runs": [row, old], "memory_first_token": reuse, "environment": ENV},
                         tmp_path, tag="speed")
    md = paths[1].read_text()
    assert ("| transformers | 10000 | 3 | 400 | 28 | 250 | 62% | 0.50 | 900 | 2.00 | 0.050 | 1.00 | 3.05 | 3.05 "
            "| 2.40 | 9.15 | 3.0× | 0.10 / 6.00 s (60×, 4000 tok) | 1500 |") in md
    assert "| transformers | 10000 | 3 | – | 28 | 250 | – | 0.50 |" in md  # results saved before these figures
    assert "| transformers | 40.0 | 32.0 | 1.25× | 3.00 | 2.00 | 1.50× |" in md
    assert "| transformers | 3900 | 0.20 | 15.00 | 75× |" in md
    sizes = md.split("MB per 100k document tokens")[1]
    assert "| transformers | 10000 | 4000 | 90.0 | yes | – | 90.0 | 46.5 |" in sizes  # saved before the default changed
    lean = {**row, "folder_kb_per_1k_tokens": 20.0, "kv_folder_kb_per_1k_tokens": 900.0, "kv_saved": False,
            "memory_first_call_s": 2.5}
    lines = report.speed_table({"runs": [lean]}).split("MB per 100k document tokens")[1]
    assert "| transformers | 10000 | 4000 | 2.0 | no | 2.50 | 90.0 | 46.5 |" in lines
    assert sizes.count("| transformers | 10000 |") == 1  # a row saved before the int8 figure has none
    assert paths[2].read_bytes()[:4] == b"\x89PNG"


def test_each_default_is_put_beside_the_exact_path_on_the_same_document():
    def row(backend, tokens, rate, total, first):
        return {"backend": backend, "document_tokens": tokens, "memorize_tokens_per_s": rate,
                "latency_p50_s": {"total": total}, "first_answer_token_p50_s": first}

    runs = [row("transformers", 100, 900.0, 3.0, 2.5), row(report.EXACT_BACKEND, 100, 200.0, 15.0, 12.0),
            row("llama.cpp", 100, 600.0, 4.0, 3.0), row("transformers", 300, 950.0, 3.1, 2.6)]
    runs[0]["first_answer_token_unkept_p50_s"] = 3.25  # timed again with the sentences embedded per query
    lines = report.exact_ratios(runs)
    assert "| transformers | 100 | 900 | 4.50× | 3.00 | 15.00 | 2.50 | 3.25 | 12.00 |" in lines
    assert "| llama.cpp | 100 | 600 | 3.00× | 4.00 | 15.00 | 3.00 | – | 12.00 |" in lines
    assert not any("| 300 |" in line for line in lines)  # no exact row of that size to hold it against
    assert report.exact_ratios(runs[:1]) == []


def test_combine_puts_every_suite_headline_in_one_table(tmp_path):
    summary = summarize(questions())
    for suite in ("hotpot", "needle"):
        report.write({"suite": suite, "summary": summary, "environment": ENV}, tmp_path, tag=f"{suite}-dev-quick")
    nq = {"suite": "nqopen", "summary": {"dense": {"recall@1": 0.5, "recall@5": 0.75, "recall@10": 1.0, "n": 4}},
          "environment": ENV}
    report.write(nq, tmp_path, tag="nqopen-dev-quick")
    text = report.combine(tmp_path, "dev-quick").read_text()
    assert "| method | hotpot R@5 any | hotpot R@5 both | hotpot F1 | needle R@5 | hotpot retrieval s/q |" in text
    assert "| memorag | 1.000 | 0.500 | 0.500 | 1.000 | 3.00 |" in text
    assert "R@1 0.500, R@5 0.750, R@10 1.000" in text
    assert report.combine(tmp_path, "heldout") is None


def test_partial_results_say_so(tmp_path):
    result = {"suite": "hotpot", "questions": questions()[:1], "summary": summarize(questions()[:1]),
              "environment": ENV, "partial": True}
    md = report.write(result, tmp_path, tag="p")[1].read_text()
    assert "Partial: the run was stopped after 1 question(s)." in md


def test_save_figures_writes_json_and_markdown_and_prints(tmp_path, capsys):
    result = {"rows": [{"name": "é", "s": 1.5}]}
    report.save_figures(result, "| a |\n| --- |", tmp_path / "new", "figures")
    assert json.loads((tmp_path / "new" / "figures.json").read_text(encoding="utf-8")) == result
    assert (tmp_path / "new" / "figures.md").read_text(encoding="utf-8") == "| a |\n| --- |\n"
    assert "| a |" in capsys.readouterr().out
