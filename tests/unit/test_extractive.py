"""Answer modes with a scripted generator and a hashing embedder: extractive answers and summaries
are sentences of the corpus at their exact spans, generated answers carry their numbered
citations, and ``auto`` picks extraction only for the embedded default model."""

import asyncio
import json

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import Document, InvalidInputError, MemoRAG, PromptMemory
from memorag_integrations.extractive import (CENTRAL_LABEL, is_embedded_default, resolve_answer_mode,
                                             sentence_spans)
from memorag_integrations.models import DEFAULT_LM
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.schema import Answer, Evidence

TEXT = (
    "The mission was planned for years by a small team of engineers.\n\n"
    "In the end the launch happened in 1969 from Florida. It was watched by millions of people on television.\n\n"
    "The crew of three trained in Houston for many months, e.g. in water tanks. They also flew jets every week.\n\n"
    "After the landing the samples went to many laboratories around the world."
)


class EmbeddedStandIn(ScriptedGenerator):
    """Named as the embedded default model is, so that ``auto`` treats it as that model."""

    identity = DEFAULT_LM


def make_engine(generator=None, **options) -> MemoRAG:
    retriever = DenseRetriever(HashEmbedder(), chunk_tokens=16, chunk_overlap=4)
    return MemoRAG(PromptMemory(generator or ScriptedGenerator()), retriever, progress=False, rerank=0, **options)


@pytest.fixture
def engine():
    return make_engine().memorize([Document(TEXT, "mission"), Document("The rocket had three stages. " * 3, "rocket")])


def spans_hold(engine, answer):
    texts = {d.doc_id: d.text for d in engine.documents}
    for quote in answer.quotes:
        start, end = quote.char_span
        assert texts[quote.doc_id][start:end] == quote.text
        ev = answer.evidence[quote.evidence - 1]
        assert ev.doc_id == quote.doc_id and ev.char_span[0] <= (start + end) // 2 < ev.char_span[1]


def test_sentences_are_real_prose_at_exact_spans(reference_text):
    spans = sentence_spans(reference_text)
    assert len(spans) > 40
    for start, end in spans:
        sentence = reference_text[start:end]
        assert sentence == sentence.strip() and sentence[-1] in ".!?\"'”’)"
        assert "\n\n" not in sentence and len(sentence.split()) >= 5
    texts = [reference_text[s:e] for s, e in spans]
    assert not any(t.startswith(("break\n", "assert_stmt")) for t in texts)  # headings and grammar are not prose
    assert [TEXT[s:e] for s, e in sentence_spans(TEXT)][2:4] == [
        "It was watched by millions of people on television.",
        "The crew of three trained in Houston for many months, e.g. in water tanks."]


def test_an_extractive_answer_is_quotes_of_the_evidence(engine):
    answer = engine.answer("When did the launch happen?", answer_mode="extractive")
    assert answer.mode == "extractive" and answer.quotes and set(answer.timings) == {"expand", "retrieve", "extract",
                                                                                      "total"}
    assert answer.quotes[0].text == "In the end the launch happened in 1969 from Florida."
    spans_hold(engine, answer)
    assert answer.text.splitlines() == [f"{' '.join(q.text.split())} [{q.evidence}]" for q in answer.quotes]
    assert [c.cited for c in answer.citations] == [i + 1 in {q.evidence for q in answer.quotes}
                                                   for i in range(len(answer.evidence))]
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["mode"] == "extractive" and data["quotes"][0]["char_span"] == list(answer.quotes[0].char_span)


def test_streams_and_async_give_the_same_quoted_answer(engine):
    question = "Where did the crew train?"
    answer = engine.answer(question, answer_mode="extractive")
    assert "".join(engine.stream(question, answer_mode="extractive")) == answer.text

    async def both():
        pieces = [p async for p in engine.astream(question, answer_mode="extractive")]
        return "".join(pieces), await engine.aanswer(question, answer_mode="extractive")

    streamed, later = asyncio.run(both())
    assert streamed == answer.text and later.text == answer.text and later.quotes == answer.quotes


def test_an_extractive_summary_is_central_sentences_in_document_order(engine):
    summary = engine.summarize(answer_mode="extractive")
    assert summary.mode == "extractive" and summary.task == "summarize" and 1 <= len(summary.quotes) <= 5
    spans_hold(engine, summary)
    order = {d.doc_id: i for i, d in enumerate(engine.documents)}
    places = [(order[q.doc_id], q.char_span[0]) for q in summary.quotes]
    assert places == sorted(places)
    added = [e for e in summary.evidence if e.matched_queries == [CENTRAL_LABEL]]
    assert all(any(q.evidence == summary.evidence.index(e) + 1 for q in summary.quotes) for e in added)
    only = engine.summarize(answer_mode="extractive", doc_ids="rocket")
    assert {q.doc_id for q in only.quotes} == {"rocket"} and {e.doc_id for e in only.evidence} == {"rocket"}


def test_auto_extracts_for_the_embedded_model_and_generates_for_a_named_one(engine):
    assert engine.answer_mode == "auto" and engine.answer_mode_for("memorag") == "generate"
    assert engine.answer("When did the launch happen?").mode == "generate"
    embedded = make_engine(EmbeddedStandIn()).memorize(TEXT)
    assert is_embedded_default(embedded.generator) and embedded.answer_mode_for("summarize") == "extractive"
    assert embedded.answer("When did the launch happen?").mode == "extractive"
    assert embedded.answer_mode_for("memorag", generator=ScriptedGenerator()) == "generate"
    assert embedded.answer("When did the launch happen?", answer_mode="generate").text == "ANSWER(1)"
    assert embedded.answer("When did the launch happen?", task="qa").mode == "generate"  # nothing to quote
    assert resolve_answer_mode("auto", retrieves=True, generator=None) == "generate"  # a framework's own model


def test_modes_are_checked(engine):
    with pytest.raises(InvalidInputError, match="answer_mode must be one of extractive, generate, auto"):
        make_engine(answer_mode="quote")
    with pytest.raises(InvalidInputError, match="answer_mode must be one of"):
        engine.answer("When?", answer_mode="yes")
    with pytest.raises(InvalidInputError, match="task 'qa' retrieves none"):
        engine.answer("When?", task="qa", answer_mode="extractive")
    extractive = make_engine(answer_mode="extractive").memorize(TEXT)
    assert extractive.answer("When did the launch happen?").mode == "extractive"
    assert extractive.answer("When did the launch happen?", task="qa").mode == "generate"


def test_a_generated_answer_cites_its_numbered_evidence(engine):
    answer = engine.answer("When did the launch happen?", answer_mode="generate")
    assert answer.mode == "generate" and not answer.quotes
    assert [(c.number, c.doc_id, c.char_span) for c in answer.citations] == [
        (i, e.doc_id, e.char_span) for i, e in enumerate(answer.evidence, 1)]
    cited = Answer("Launched in 1969 [2], by a crew of three [1].", answer.evidence[:2])
    assert [c.cited for c in cited.citations] == [True, True]
    assert [c["number"] for c in cited.to_dict()["citations"]] == [1, 2]


def test_write_follows_the_mode_of_the_model_that_answers():
    embedded = make_engine(EmbeddedStandIn()).memorize(TEXT)
    prepared = embedded.prepare("When did the launch happen?")
    assert "".join(embedded.write(prepared)) == embedded.extract(prepared).text
    assert "".join(embedded.write(prepared, generator=ScriptedGenerator())) == "ANSWER(1)"


def test_evidence_without_a_sentence_is_quoted_whole():
    code = "x = compute(1, 2)\ny = x ** 2 + 3\n\nz = [i for i in range(10)]"
    engine = make_engine().memorize(code)
    answer = engine.answer("compute x", answer_mode="extractive")
    assert len(answer.quotes) == 1 and answer.quotes[0].text == answer.evidence[0].text
    assert code[slice(*answer.quotes[0].char_span)] == answer.quotes[0].text


def test_adapters_can_extract_from_their_own_evidence(engine):
    doc = engine.documents[0]
    start = doc.text.index("The crew")
    evidence = [Evidence(doc.text[start:start + 60], 1.0, "mission", (start, start + 60))]
    extracted = engine.extract(query="Who trained in Houston?", evidence=evidence)
    assert extracted.quotes[0].text == ("The crew of three trained in Houston for many months, e.g. in water tanks.")
    assert extracted.quotes[0].char_span[1] > start + 60  # the sentence the passage cut is quoted whole
    unknown = [Evidence("The crew of three trained in Houston for many months.", 1.0, "elsewhere", (100, 153))]
    assert engine.extract(query="Where did the crew train?", evidence=unknown).quotes[0].char_span == (100, 153)


def test_a_summary_quotes_the_central_sentences_when_no_key_point_survives():
    class Filler(ScriptedGenerator):
        def generate(self, prompt, max_new_tokens=256, *, temperature=0.0, stop=None):
            text = super().generate(prompt, max_new_tokens, temperature=temperature, stop=stop)
            return "One question per line.\nWhat does that mean?" if text.startswith("- launch") else text

    engine = make_engine(Filler()).memorize(TEXT)
    prepared = engine.prepare("", "summarize", k=2)
    assert prepared.clues.spans == [] and not prepared.unanswered  # nothing to search: the central chunks
    central = [h.item.chunk_id for h in engine._central(None, 2)[0]]
    assert [e.chunk_id for e in prepared.evidence] == central and len(central) == 2
    assert all(e.matched_queries == [CENTRAL_LABEL] for e in prepared.evidence)
    assert asyncio.run(engine.aprepare("", "summarize", k=2)).evidence == prepared.evidence
    assert engine.prepare("", "summarize", doc_ids=[]).evidence == []
    summary = engine.summarize(answer_mode="extractive")
    assert summary.quotes and all(e.matched_queries == [CENTRAL_LABEL] for e in summary.evidence)
    spans_hold(engine, summary)
    assert "".join(engine.stream("", "summarize", answer_mode="extractive")) == summary.text
    nothing = engine.answer("When did the launch happen?", answer_mode="extractive", doc_ids=[], where=None)
    assert nothing.mode == "extractive" and not nothing.quotes and nothing.text == engine.prepare(
        "When?", doc_ids=[]).unanswered


def test_sentences_are_ranked_by_similarity_passage_rank_and_optionally_likelihood():
    from memorag_integrations.extractive import Candidate, answer_quotes

    texts = ["The launch happened in 1969 from Florida.", "The crew of three trained in Houston.",
             "The launch was watched by millions of people."]
    found = [Candidate("d", 100 * i, 100 * i + len(t), t, i + 1) for i, t in enumerate(texts)]
    encode = HashEmbedder().encode
    plain = answer_quotes("When was the launch?", found, encode, sentences=1)
    assert [q.text for q in plain] == [texts[0]] and plain[0].evidence == 1
    asked = []

    def likelihood(query, sentences):
        asked.append(list(sentences))
        return [0.0, 0.0, 5.0]

    fused = answer_quotes("When was the launch?", found, encode, likelihood, sentences=3, share=0.0)
    assert asked == [texts] and [q.text for q in fused][0] == texts[2]  # the likelihood moved it ahead
