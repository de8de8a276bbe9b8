"""End to end with the real embedded default (SmolLM2-135M-Instruct + all-MiniLM-L6-v2) on real text."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from memorag_integrations import Document, MemoRAG
from memorag_integrations.memory.gist import GistCache
from memorag_integrations.memory.kv import KVMemory
from memorag_integrations.pipeline import second_round_label

pytestmark = pytest.mark.slow

QUESTIONS = ["How do I leave a loop before it finishes?", "What does the assert statement do when optimisation is on?"]
FAST = {"clue_tokens": 40, "answer_tokens": 40, "k": 3}


@pytest.fixture(scope="module")
def engine(reference_text, tmp_path_factory):
    # A small memory window forces the gisting path on this ~5k-token text.
    memory = KVMemory(max_memory_tokens=1024, gist_chunk_tokens=1024, gist_tokens=32)
    memory.compressor.cache = GistCache(tmp_path_factory.mktemp("gists"))
    return MemoRAG(memory, progress=False, **FAST).memorize(Document(reference_text, "langref"))


def test_memorize_gists_the_text_that_does_not_fit(engine, reference_text):
    memory = engine.memory
    assert len(memory.gists) >= 3 and all(g.gist.strip() for g in memory.gists)
    assert memory.lm.count_tokens(memory.context) <= 1024
    assert memory._prefix.length > 0
    chunks = engine.retriever.chunks
    assert all(reference_text[c.start:c.end] == c.text for c in chunks)
    assert max(engine.retriever.embedder.tokenizer(c.text).input_ids.__len__() for c in chunks) <= 256


def test_expand_and_retrieve(engine, reference_text):
    clues = engine.expand(QUESTIONS[0])
    assert clues.queries(), "the memory wrote no clue at all"
    evidence = engine.retrieve(QUESTIONS[0], k=3, clues=clues)
    assert 1 <= len(evidence) <= 3
    for ev in evidence:
        assert reference_text[ev.char_span[0]:ev.char_span[1]] == ev.text and ev.doc_id == "langref"
        assert ev.matched_queries and set(ev.matched_queries) <= {QUESTIONS[0], *clues.queries(),
                                                                 second_round_label(QUESTIONS[0])}
    assert any("break" in ev.text for ev in evidence)


def test_answer_stream_qa_and_summarize(engine):
    answer = engine.answer(QUESTIONS[0])  # the embedded model: the answer quotes the evidence
    assert answer.text and answer.evidence and set(answer.timings) == {"expand", "retrieve", "extract", "total"}
    assert answer.clues is None  # nor does it write clues unless asked
    asked = engine.prepare(QUESTIONS[0], write_clues=True)
    assert asked.clues is not None and asked.evidence
    assert "".join(engine.stream(QUESTIONS[0])).strip() == answer.text
    written = engine.answer(QUESTIONS[0], answer_mode="generate")
    assert written.text and set(written.timings) == {"expand", "retrieve", "generate", "total"}
    assert "".join(engine.stream(QUESTIONS[0], answer_mode="generate")).strip() == written.text
    qa = engine.answer(QUESTIONS[1], task="qa")
    assert qa.text and not qa.evidence
    summary = engine.summarize()
    assert summary.text and summary.evidence and summary.quotes


def test_queries_do_not_mutate_the_memory(engine):
    first = [engine.expand(q) for q in QUESTIONS]
    second = [engine.expand(q) for q in reversed(QUESTIONS)][::-1]
    assert first == second


def test_concurrent_queries_match_sequential_ones(engine):
    queries = [QUESTIONS[0], QUESTIONS[1], QUESTIONS[0]]
    sequential = [engine.expand(q) for q in queries]
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = list(pool.map(engine.expand, queries))
    assert concurrent == sequential


def test_save_and_load_give_identical_answers(engine, tmp_path):
    before = engine.answer(QUESTIONS[1])
    folder = engine.save(tmp_path / "corpus", include_kv=True)
    assert (folder / "memory.safetensors").is_file()
    for path in folder.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    loaded = MemoRAG.load(folder, progress=False, **FAST)
    assert loaded.memory.context == engine.memory.context
    after = loaded.answer(QUESTIONS[1])
    assert after.text == before.text and after.evidence == before.evidence and after.clues == before.clues

    # The embedded model writes no clues by default, so its default save leaves out the KV cache: the
    # loaded memory reads its text at its first call, with the same result.
    light = engine.save(tmp_path / "light")
    assert not engine.saves_kv and not (light / "memory.safetensors").exists()
    assert sum(f.stat().st_size for f in light.iterdir()) < sum(f.stat().st_size for f in folder.iterdir()) / 3
    lazy = MemoRAG.load(light, progress=False, **FAST)
    assert lazy.memory._prefix is None and lazy.memory.prefix_tokens == engine.memory.prefix_tokens
    assert lazy.expand(QUESTIONS[1]) == engine.expand(QUESTIONS[1])
    assert lazy.answer(QUESTIONS[1]).text == before.text
    # A named model's engine writes clues with every query, so it keeps its cache by default.
    assert MemoRAG(engine.memory, engine.retriever, write_clues=True).saves_kv


def test_a_half_precision_cache_takes_half_the_disk_and_gives_the_same_clues(engine, tmp_path):
    full = engine.save(tmp_path / "f32", include_kv=True, kv_dtype=None)
    half = engine.save(tmp_path / "f16", include_kv=True)  # the default type
    size = {f.name: (f / "memory.safetensors").stat().st_size for f in (full, half)}
    assert 0.49 < size["f16"] / size["f32"] < 0.51
    loaded = MemoRAG.load(half, progress=False, **FAST)
    assert loaded.memory.lm.model.dtype == engine.memory.lm.model.dtype  # cast back to the model's type
    for question in QUESTIONS:  # the stated tolerance: none; greedy clues are the same
        assert loaded.expand(question) == engine.expand(question)


def test_an_8_bit_cache_takes_a_quarter_of_the_disk_and_finds_the_same_evidence(engine, tmp_path):
    full = engine.save(tmp_path / "f32", include_kv=True, kv_dtype=None)
    small = engine.save(tmp_path / "int8", include_kv=True, kv_dtype="int8")
    size = {f.name: (f / "memory.safetensors").stat().st_size for f in (full, small)}
    assert 0.25 < size["int8"] / size["f32"] < 0.28  # int8 values and a float16 scale per 64
    loaded = MemoRAG.load(small, progress=False, **FAST)
    cached = engine.memory._prefix
    for ours, theirs in zip(loaded.memory._prefix.keys, cached.keys):  # within about half a step of each vector
        step = theirs.abs().amax(dim=-1, keepdim=True) / 127
        assert bool(((ours - theirs).abs() <= step * (0.5 + 127 * 2 ** -11) + 1e-6).all())
    for question in QUESTIONS:  # the stated tolerance: the same evidence (clues may word a phrase differently)
        ours, theirs = loaded.prepare(question, write_clues=True), engine.prepare(question, write_clues=True)
        assert [e.char_span for e in ours.evidence] == [e.char_span for e in theirs.evidence]


def test_many_documents_fit_without_gisting(reference_text):
    docs = [Document(reference_text[:1500], "part-a"), Document(reference_text[1500:3000], "part-b")]
    engine = MemoRAG(KVMemory(max_memory_tokens=2048), progress=False, **FAST).memorize(docs)
    assert engine.memory.gists == [] and "### part-a" in engine.memory.context
    evidence = engine.retrieve("assert statement", k=4)
    assert {e.doc_id for e in evidence} <= {"part-a", "part-b"}
    for e in evidence:
        source = docs[0] if e.doc_id == "part-a" else docs[1]
        assert source.text[e.char_span[0]:e.char_span[1]] == e.text


def test_chinese_corpus_uses_chinese_prompts():
    text = "长城是中国古代的军事防御工程，全长两万多公里。它始建于春秋战国时期，明朝时大规模重修。"
    engine = MemoRAG(KVMemory(max_memory_tokens=1024), progress=False, **FAST).memorize(text)
    assert engine.memory.language == "zh" and "请仔细阅读" in engine.memory._prefix_text
    answer = engine.answer("长城有多长？")
    assert answer.text and answer.evidence[0].text.startswith("长城")


def test_answer_to_dict_is_json(engine):
    data = json.loads(json.dumps(engine.answer(QUESTIONS[1], task="qa").to_dict()))
    assert data["task"] == "qa" and data["text"]
