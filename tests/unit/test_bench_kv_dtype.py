"""The int8-against-float16 report: sizes per 100k document tokens and the paired comparison."""

from benchmarks.kv_dtype import suite_markdown
from benchmarks.run import summarize, versus


def test_the_report_gives_sizes_per_100k_tokens_and_the_paired_difference():
    questions = [
        {"qid": "a", "same_clues": True, "same_evidence": True, "methods": {
            "float16": {"recall_all@5": 1.0}, "int8": {"recall_all@5": 1.0}}},
        {"qid": "b", "same_clues": False, "same_evidence": False, "methods": {
            "float16": {"recall_all@5": 1.0}, "int8": {"recall_all@5": 0.0}}},
    ]
    result = {"suite": "hotpot", "split": "dev", "wall_s": 12.0, "questions": questions,
              "corpora": [{"task": "t", "doc_tokens": 50_000, "memory_tokens": 4000,
                           "memory_bytes": {"float16": 2**20 * 40, "int8": 2**20 * 20}}],
              "summary": summarize(questions), "versus_float16": versus(questions, baseline="float16"),
              "same_clues": 1, "same_evidence": 1}
    text = suite_markdown(result)
    assert "| float16 | 40.0 | 80.0 |" in text and "| int8 | 20.0 | 40.0 |" in text
    assert "Same clues: 1/2; same top-k evidence: 1/2." in text
    assert "| int8 | -0.500 [" in text and "0/1/1" in text
