"""Bad arguments at the engine's public surface: a typed error that says what to pass, before any
model call (scripted models, real FAISS)."""

import codecs

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import (BinaryFileError, Clues, Document, InvalidInputError, MemoRAG, PromptMemory,
                                  QueryTooLongError)
from memorag_integrations.documents import decode_text, load_document
from memorag_integrations.prompts import ENGLISH
from memorag_integrations.retrieval.chunking import Chunker
from memorag_integrations.retrieval.retriever import DenseRetriever

TEXT = "The launch happened in 1969 from Florida.\n\nThe crew of three trained in Houston."


def make(**options) -> MemoRAG:
    return MemoRAG(PromptMemory(ScriptedGenerator()), DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0),
                   progress=False, **options)


@pytest.fixture
def engine():
    return make().memorize(TEXT)


CONSTRUCTOR = [
    ({"k": 0}, "k must be a positive integer"),
    ({"k": -5}, "k must be a positive integer"),
    ({"k": "3"}, "k must be a positive integer"),
    ({"k": True}, "k must be a positive integer"),
    ({"token_budget": -1}, "token_budget must be a positive integer"),
    ({"token_budget": "x"}, "token_budget must be a positive integer"),
    ({"clue_tokens": 0}, "clue_tokens must be a positive integer"),
    ({"answer_tokens": -3}, "answer_tokens must be a positive integer"),
    ({"rrf_k": -1}, "rrf_k must be a positive integer"),
    ({"query_weight": -2}, "query_weight must be a positive number"),
    ({"query_weight": "heavy"}, "query_weight must be a positive number"),
    ({"use_draft": "yes"}, "use_draft must be True or False"),
    ({"grounding": 2}, "grounding must be a share between 0 and 1"),
    ({"feedback": -1}, "feedback must be a whole number"),
]


@pytest.mark.parametrize(("options", "message"), CONSTRUCTOR, ids=[str(o) for o, _ in CONSTRUCTOR])
def test_bad_settings_fail_at_construction(options, message):
    with pytest.raises(InvalidInputError, match=message):
        make(**options)


CALLS = [
    (lambda e: e.retrieve("q", k=-5), "k must be a positive integer, got -5"),
    (lambda e: e.retrieve("q", k=0), "k must be a positive integer, got 0"),
    (lambda e: e.retrieve("q", k="3"), "k must be a positive integer, got '3'"),
    (lambda e: e.retrieve("q", clues="a clue"), "clues must be a Clues"),
    (lambda e: e.answer("q", k=-5), "k must be a positive integer"),
    (lambda e: e.answer("q", max_new_tokens=-1), "max_new_tokens must be a positive integer"),
    (lambda e: e.answer("q", max_new_tokens=0), "max_new_tokens must be a positive integer"),
    (lambda e: e.answer("q", task="bogus"), "unknown task 'bogus'; use one of memorag, qa, summarize"),
    (lambda e: e.answer(5), "the query must be a string, got int"),
    (lambda e: e.answer("   "), "the query is empty"),
    (lambda e: e.answer("bad \ud800 text"), "not valid Unicode text"),
    (lambda e: e.rank("q", None, fetch_k=0), "fetch_k must be a positive integer"),
    (lambda e: e.add(123), "expected a text, a Document or a list of them, got int"),
    (lambda e: make().memorize(123), "expected a text, a Document or a list of them, got int"),
    (lambda e: make().memorize(b"bytes"), "got bytes"),
    (lambda e: make().memorize([None]), "expected str or Document, got NoneType"),
    (lambda e: make().memorize("bad \udc80 text"), "document 0 holds '\\\\udc80'"),
    (lambda e: make().memorize(Document(b"bytes")), "has a bytes as its text"),
    (lambda e: make().memorize("  \n "), "is empty"),
]


@pytest.mark.parametrize(("call", "message"), CALLS, ids=range(len(CALLS)))
def test_bad_calls_raise_typed_errors_before_any_model_call(engine, call, message):
    calls_before = len(engine.memory.generator.calls)
    with pytest.raises(InvalidInputError, match=message):
        call(engine)
    assert len(engine.memory.generator.calls) == calls_before


def test_a_query_too_long_for_the_window_is_refused_before_any_model_call(engine):
    calls_before = len(engine.memory.generator.calls)
    with pytest.raises(QueryTooLongError, match=r"tokens long, and the memory model's 4096-token window has room"):
        engine.answer("why " * 5000)
    assert len(engine.memory.generator.calls) == calls_before
    engine.answer("why " * 200)  # a long question that fits is answered


def test_no_evidence_is_said_instead_of_answered_from_nothing(engine):
    engine.retriever.clear()  # an index that finds nothing (as a filtered outside store can)
    answer = engine.answer("When was the launch?")
    assert answer.evidence == [] and answer.text == ENGLISH.nothing_found
    assert not any(call.startswith("Answer the question") for call in engine.memory.generator.calls)
    assert "".join(engine.stream("When was the launch?")) == ENGLISH.nothing_found
    assert engine.answer("When was the launch?", task="qa").text  # the memory-only task still answers


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_text_is_decoded_by_its_byte_order_mark_or_its_zero_bytes(encoding):
    text = "Naïve café — the launch happened in 1969.\n" * 20
    data = text.encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):
        assert not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # no mark: found by its zeros
    assert decode_text(data) == text


def test_binary_without_nul_bytes_is_refused(tmp_path):
    png_like = bytes(range(1, 9)) * 2000 + b"IEND"  # control bytes, no NUL
    path = tmp_path / "image.txt"
    path.write_bytes(png_like)
    with pytest.raises(BinaryFileError, match="looks binary"):
        load_document(path)
    with pytest.raises(BinaryFileError):
        decode_text(b"text\x00with a NUL")
    assert decode_text(b"tabs\tand\fform feeds\r\n are text") == "tabs\tand\fform feeds\r\n are text"


def test_no_chunk_exceeds_its_size_whatever_the_spacing():
    chunker = Chunker.for_embedder(DenseRetriever().embedder, 200, 24)
    text = "x" * 5_000_000 + " end"
    chunks = chunker.chunk([Document(text, "long")])
    assert max(len(c.text) for c in chunks) <= 200 * 64
    assert all(len(chunker.offsets_fn(c.text)) <= 200 for c in chunks[:50])
    assert "".join(c.text for c in chunks[:-1]).startswith("x" * 1000) and chunks[-1].text.endswith("end")


def test_clues_object_is_accepted(engine):
    assert engine.retrieve("When was the launch?", clues=Clues())


def test_kv_dtype_is_checked_before_saving(engine, tmp_path):
    with pytest.raises(InvalidInputError, match="kv_dtype must be one of float16, bfloat16"):
        engine.save(tmp_path / "c", kv_dtype="int3")
    assert not (tmp_path / "c").exists()
    assert engine.save(tmp_path / "c", kv_dtype="float16").is_dir()  # a prompt memory has no tensors: a no-op
