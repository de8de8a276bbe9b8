"""Benchmark data loading: splits, gold spans that point at the right text, typed errors."""

import json
from pathlib import Path

import pytest


from benchmarks import data  # noqa: E402
from memorag_integrations.errors import InvalidInputError  # noqa: E402

DATA = data.DEFAULT_DATA
needs_data = pytest.mark.skipif(not (DATA / "derived").is_dir(), reason="the shared data folder is not here")


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_pooled_paragraph_spans_point_at_each_paragraph():
    paras = [{"pid": "p1", "title": "A", "text": "alpha text"}, {"pid": "p2", "title": "B", "text": "beta"}]
    text, spans = data.pool_paragraphs(paras)
    assert text[slice(*spans["p1"])] == "A\nalpha text" and text[slice(*spans["p2"])] == "B\nbeta"


def test_hotpot_distractors_keep_every_gold_paragraph(tmp_path):
    corpus = [{"pid": f"p{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(10)]
    questions = [{"qid": f"q{i}", "question": "?", "answers": ["x"],
                  "gold_pids": [f"p{(9 - i) % 10}", f"p{(8 - i) % 10}"]}
                 for i in range(100)]
    write_jsonl(tmp_path / "derived" / "hotpot100_corpus.jsonl", corpus)
    write_jsonl(tmp_path / "derived" / "hotpot100_questions.jsonl", questions)
    task = data.load_hotpot(tmp_path, "dev", limit=1, distractors=2)
    text = task.documents[0].text
    assert [p.split("\n")[0] for p in text.split("\n\n")] == ["T0", "T1", "T8", "T9"]  # file order kept
    assert [text[s:e] for group in task.questions[0].gold for _, s, e in group] == ["T9\ntext 9", "T8\ntext 8"]
    assert data.load_hotpot(tmp_path, "heldout").questions[0].qid == "q50"


def test_missing_files_and_unknown_splits_raise_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="--data"):
        data.load_nqopen(tmp_path)
    with pytest.raises(InvalidInputError, match="unknown split"):
        data._half([1, 2], 1, "test")


def test_review_lists_stored_as_python_literals_are_parsed():
    assert data._as_list("['a', \"b's\"]") == ["a", "b's"]
    assert data._as_list(["x"]) == ["x"] and data._as_list("plain text") == ["plain text"]


@needs_data
def test_real_splits_have_the_documented_sizes():
    assert len(data.load_hotpot(DATA, "dev").questions) == 50
    assert len(data.load_hotpot(DATA, "heldout").questions) == 50
    # Held-out leaves out the documents L-Eval repeats from dev (contracts 20-22, collections 20, 22, 23).
    assert len(data.load_legal(DATA, "dev")) == 12 and len(data.load_legal(DATA, "heldout")) == 8
    assert len(data.load_review(DATA, "dev")) == 12 and len(data.load_review(DATA, "heldout")) == 9
    dev_texts = {t.documents[0].text for t in data.load_legal(DATA, "dev") + data.load_review(DATA, "dev")}
    held = data.load_legal(DATA, "heldout") + data.load_review(DATA, "heldout")
    assert not dev_texts & {t.documents[0].text for t in held}
    assert data.load_review(DATA, "heldout")[-1].name == "review-review_summ-21"
    assert len(data.load_needle(DATA)) == 15
    nq = data.load_nqopen(DATA, "heldout")
    assert len(nq.documents) == 2600 and len(nq.questions) == 1355 and nq.questions[0].qid == "nqopen-1300"


@needs_data
def test_a_splits_own_pool_holds_its_questions_paragraphs_and_not_the_others():
    whole = data.load_hotpot(DATA, "dev")
    for split, other in (("dev", "heldout"), ("heldout", "dev")):
        own = data.load_hotpot(DATA, split, own_pool=True)
        text = own.documents[0].text
        assert 400 < len(text.split("\n\n")) < 560 and len(text) < len(whole.documents[0].text) * 0.6
        for q in own.questions:
            for group in q.gold:
                (_, start, end), = group
                assert text[start:end].split("\n", 1)[0]  # each gold paragraph is in the split's pool
        others = data.load_hotpot(DATA, other)
        titles = {others.documents[0].text[s:e].split("\n", 1)[0] for q in others.questions for (_, s, e), in q.gold}
        assert not titles & set(text.split("\n"))  # the other split's gold titles are not


@needs_data
def test_needle_sweeps_every_depth_only_in_the_short_haystacks():
    cases = [t.questions[0].info for t in data.load_needle(DATA, max_words=30_000, depths=(0.5,), sweep_words=7000)]
    short = sorted(c["depth"] for c in cases if c["haystack_words"] <= 7000)
    assert short == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [c["depth"] for c in cases if c["haystack_words"] > 7000] == [0.5]


@needs_data
def test_real_gold_spans_hold_the_evidence():
    hotpot = data.load_hotpot(DATA, "dev", limit=5)
    text = hotpot.documents[0].text
    for q in hotpot.questions:
        assert len(q.gold) == 2  # two gold paragraphs, each its own group
    for task in data.load_legal(DATA, "dev", docs=2, per_doc=3):
        doc = task.documents[0].text
        for q in task.questions:
            clause = doc[q.gold[0][0][1]:q.gold[0][0][2]]
            assert clause.strip()[:40] in " ".join(q.answers)
    for task in data.load_needle(DATA, max_words=7000):
        q = task.questions[0]
        _, start, end = q.gold[0][0]
        assert 0 <= start < end <= len(task.documents[0].text) and q.info["haystack_words"] < 7000
    assert text  # the pooled document is not empty


@needs_data
def test_nqopen_as_a_memorized_corpus_is_every_passage_as_a_document():
    from benchmarks import run

    settings = run.Settings(quick=False, sizes=run.FULL)
    (task,) = run.load_tasks("nqopendocs", settings, DATA)
    assert len(task.documents) == 2600 and len(task.questions) == 50
    golds = {pid for q in task.questions for group in q.gold for pid, _, _ in group}
    assert golds and golds <= {d.doc_id for d in task.documents}


def test_multihoprag_keeps_metadata_and_one_gold_group_per_fact(tmp_path):
    folder = tmp_path / "multihoprag"
    write_jsonl(folder / "dev_corpus.jsonl", [
        {"doc_id": "d1", "title": "T1", "text": "Alpha said yes. Beta.", "source": "Wire", "author": "A",
         "published_at": "2023-10-08T09:00:00+00:00", "url": "u", "category": "c"},
        {"doc_id": "d2", "title": "T2", "text": "Gamma.", "source": "Post", "author": "B",
         "published_at": "2023-11-05T00:00:00+00:00", "url": "u", "category": "c"}])
    write_jsonl(folder / "dev_questions.jsonl", [
        {"qid": "q1", "question": "Did Wire and Post agree?", "answer": "Yes", "question_type": "comparison_query",
         "gold_doc_ids": ["d1", "d2"],
         "evidence": [{"doc_id": "d1", "span": [0, 15]}, {"doc_id": "d2", "span": [0, 6]}]}])
    task = data.load_multihoprag(tmp_path, "dev")
    assert [d.metadata["source"] for d in task.documents] == ["Wire", "Post"]
    assert task.documents[0].metadata["published_at"] == "2023-10-08"
    (q,) = task.questions
    assert q.gold == [[("d1", 0, 15)], [("d2", 0, 6)]] and q.info["gold_docs"] == ["d1", "d2"]
    assert task.documents[0].text[0:15] == "Alpha said yes."
    with pytest.raises(InvalidInputError):
        data.load_multihoprag(tmp_path, "test")


@needs_data
def test_multihoprag_splits_share_no_article_and_every_fact_span_is_in_its_article():
    dev, held = data.load_multihoprag(DATA, "dev"), data.load_multihoprag(DATA, "heldout")
    assert not {d.doc_id for d in dev.documents} & {d.doc_id for d in held.documents}
    for task in (dev, held):
        texts = {d.doc_id: d.text for d in task.documents}
        for q in task.questions:
            for (doc_id, start, end), in q.gold:
                assert 0 <= start < end <= len(texts[doc_id])
