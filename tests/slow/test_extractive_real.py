"""Answer modes with the real embedded default (SmolLM2-135M-Instruct + all-MiniLM-L6-v2) on real
text: by default every sentence of an answer or a summary is quoted from the corpus, checked here
against the document text; asked to generate, the model's answer carries its numbered evidence."""

import pytest
from testdata import language_reference_slice

from memorag_integrations import Document, MemoRAG

pytestmark = pytest.mark.slow

QUESTIONS = ["How do I leave a loop before it finishes?", "What does the global statement declare?"]
FAST = {"clue_tokens": 24, "answer_tokens": 24, "k": 3, "rerank": 0}  # short: the quotes are what is tested


@pytest.fixture(scope="module")
def engine():
    docs = [Document(language_reference_slice(("break", "continue", "return")), "flow"),
            Document(language_reference_slice(("global", "nonlocal", "assert")), "names")]
    return MemoRAG(progress=False, **FAST).memorize(docs)


def check_quotes(engine, answer):
    texts = {d.doc_id: d.text for d in engine.documents}
    assert answer.mode == "extractive" and answer.quotes
    for quote in answer.quotes:
        start, end = quote.char_span
        assert texts[quote.doc_id][start:end] == quote.text  # a sentence of the corpus, exactly where it stands
        evidence = answer.evidence[quote.evidence - 1]
        assert evidence.doc_id == quote.doc_id and texts[evidence.doc_id][slice(*evidence.char_span)] == evidence.text
    assert answer.text.splitlines() == [f"{' '.join(q.text.split())} [{q.evidence}]" for q in answer.quotes]


def test_the_embedded_model_answers_with_sentences_of_the_corpus(engine):
    assert engine.answer_mode == "auto" and engine.answer_mode_for("memorag") == "extractive"
    answers = [engine.answer(question) for question in QUESTIONS]
    for answer in answers:
        check_quotes(engine, answer)
    assert any('"break"' in q.text for q in answers[0].quotes)
    assert "".join(engine.stream(QUESTIONS[0])) == answers[0].text


def test_an_extractive_summary_quotes_central_sentences_in_document_order(engine):
    summary = engine.summarize()
    check_quotes(engine, summary)
    order = {d.doc_id: i for i, d in enumerate(engine.documents)}
    places = [(order[q.doc_id], q.char_span[0]) for q in summary.quotes]
    assert places == sorted(places)
    assert {q.doc_id for q in engine.summarize(doc_ids="names").quotes} == {"names"}


def test_a_generated_answer_cites_its_numbered_evidence(engine):
    answer = engine.answer(QUESTIONS[0], answer_mode="generate")
    assert answer.mode == "generate" and answer.text and not answer.quotes
    assert [(c.number, c.doc_id, c.char_span) for c in answer.citations] == [
        (i, e.doc_id, e.char_span) for i, e in enumerate(answer.evidence, 1)]
    assert answer.to_dict()["citations"] and engine.answer(QUESTIONS[1], task="qa").mode == "generate"
