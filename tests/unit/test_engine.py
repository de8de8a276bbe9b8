"""The engine's logic with a scripted generator and a hashing embedder (real FAISS, real files)."""

import json

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import (Clues, CorruptStoreError, Document, EmptyQueryError, IncompatibleStoreError,
                                  InvalidInputError, MemoRAG, NotMemorizedError, PromptMemory, StoreExistsError,
                                  StoreNotFoundError)
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.store import MANIFEST

TEXT = (
    "The mission was planned for years.\n\n"
    "In the end the launch happened in 1969 from Florida.\n\n"
    "The crew of three trained in Houston.\n\n"
    "After the landing the samples went to many laboratories."
)


def make_engine(**options) -> MemoRAG:
    gen = ScriptedGenerator()
    retriever = DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0)
    return MemoRAG(PromptMemory(gen), retriever, progress=False, **options)


@pytest.fixture
def engine():
    return make_engine().memorize(TEXT)


def test_expand_parses_clues_and_surrogate_questions(engine):
    clues = engine.expand("When was the launch?")
    assert clues.spans == ["the launch happened in 1969", "crew of three"]
    assert clues.surrogate_questions == ["When did the launch happen?", "Who was in the crew?"]
    assert clues.draft is None
    assert make_engine(use_draft=True).memorize(TEXT).expand("When?").draft == "draft: 1969"


def test_the_memory_calls_of_a_query_are_one_request(engine, monkeypatch):
    """Clue spans, surrogate questions (and the draft) go to the memory together, so a local
    memory decodes them at once; sync and async alike."""
    import asyncio

    requests: list[list[str]] = []
    original = engine.memory.generate_many
    monkeypatch.setattr(engine.memory, "generate_many",
                        lambda calls: (requests.append([i for i, _ in calls]), original(calls))[1])
    async_original = engine.memory.agenerate_many

    async def recorded(calls):
        requests.append([i for i, _ in calls])
        return await async_original(calls)

    monkeypatch.setattr(engine.memory, "agenerate_many", recorded)
    engine.use_draft = True
    sync, later = engine.expand("When was the launch?"), asyncio.run(engine.aexpand("When was the launch?"))
    assert sync == later and sync.draft == "draft: 1969"
    assert len(requests) == 2 and all(len(r) == 3 for r in requests)


def test_retrieve_records_scores_spans_and_matching_queries(engine):
    evidence = engine.retrieve("When was the launch?", k=3)
    assert 1 <= len(evidence) <= 3
    assert evidence == sorted(evidence, key=lambda e: -e.score)
    top = evidence[0]
    assert "1969" in top.text
    assert TEXT[top.char_span[0]:top.char_span[1]] == top.text
    assert "the launch happened in 1969" in top.matched_queries
    # Without clues only the query searches (and, by default, the second round it leads to).
    plain = engine.retrieve("When was the launch?", k=3, clues=Clues())
    assert all(set(e.matched_queries) <= {"When was the launch?", "When was the launch? (second round)"} for e in plain)
    dense = make_engine(feedback=0).memorize(TEXT).retrieve("When was the launch?", k=3, clues=Clues())
    assert all(e.matched_queries == ["When was the launch?"] for e in dense)


def test_answer_tasks(engine):
    answer = engine.answer("When was the launch?")
    assert answer.task == "memorag" and answer.text.startswith("ANSWER")
    assert answer.evidence and answer.clues.spans
    assert set(answer.timings) == {"expand", "retrieve", "generate", "total"}
    qa = engine.answer("When was the launch?", task="qa")
    assert qa.text == "draft: 1969" and qa.evidence == [] and qa.clues is None
    summary = engine.summarize()
    assert summary.task == "summarize" and summary.clues.spans == ["launch year", "crew members"]
    assert "".join(engine.stream("When was the launch?")) == answer.text


async def test_async_answer_matches_sync(engine):
    sync = engine.answer("When was the launch?")
    result = await engine.aanswer("When was the launch?")
    assert result.text == sync.text and [e.chunk_id for e in result.evidence] == [e.chunk_id for e in sync.evidence]
    pieces = [p async for p in engine.astream("When was the launch?", task="qa")]
    assert "".join(pieces) == "draft: 1969"


def test_bad_queries_and_state_errors(engine):
    for bad in ("", "   \n"):
        with pytest.raises(EmptyQueryError, match="empty"):
            engine.answer(bad)
    with pytest.raises(InvalidInputError, match="unknown task"):
        engine.answer("q", task="translate")
    with pytest.raises(NotMemorizedError, match="memorize"):
        make_engine().answer("When?")


def test_many_documents_and_incremental_add():
    engine = make_engine().memorize([Document(TEXT, "apollo"), Document("Rivers flow to the sea.", "geo")])
    engine.add("A third note about the crew of three and their training.")
    assert [d.doc_id for d in engine.documents] == ["apollo", "geo", "doc-2"]
    assert {c.doc_id for c in engine.retriever.chunks} == {"apollo", "geo", "doc-2"}
    assert "### doc-2" in engine.memory.context
    with pytest.raises(InvalidInputError, match="already memorized"):
        engine.add(Document("again", "geo"))


def test_save_and_load_roundtrip(engine, tmp_path):
    before = engine.answer("When was the launch?")
    folder = engine.save(tmp_path / "corpus")
    names = {p.name for p in folder.iterdir()}
    assert names == {MANIFEST, "documents.jsonl", "chunks.jsonl", "index.faiss", "memory.json"}
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["format_version"] == 1
    assert manifest["retriever"]["embedder"] == "hash-embedder"
    assert manifest["memory"] == {"kind": "prompt", "model": "scripted-test-model", "max_memory_tokens": 3072,
                                  "gist_chunk_tokens": 1536, "gist_tokens": 64, "gisting": "generate"}
    loaded = MemoRAG.load(folder, PromptMemory(ScriptedGenerator()),
                          DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0))
    after = loaded.answer("When was the launch?")
    assert after.text == before.text and after.evidence == before.evidence


def test_save_refuses_existing_folder_and_overwrites_on_request(engine, tmp_path):
    folder = engine.save(tmp_path / "c")
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        engine.save(folder)
    engine.add("More text for the second version.")
    engine.save(folder, overwrite=True)
    assert json.loads((folder / MANIFEST).read_text())["documents"] == 2
    other = tmp_path / "not-a-corpus"
    other.mkdir()
    with pytest.raises(StoreExistsError, match="not a saved corpus"):
        engine.save(other, overwrite=True)


def test_crash_mid_save_leaves_the_old_folder_intact(engine, tmp_path, monkeypatch):
    folder = engine.save(tmp_path / "c")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def explode(self, tmp):
        (tmp / "chunks.jsonl").write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(DenseRetriever, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        engine.save(folder, overwrite=True)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["c"]  # no temp folders left behind


def test_load_checks_identities_versions_and_checksums(engine, tmp_path):
    folder = engine.save(tmp_path / "c")
    mem = lambda: PromptMemory(ScriptedGenerator())  # noqa: E731
    with pytest.raises(IncompatibleStoreError, match="embedder: saved 'hash-embedder', given 'other-embedder'"):
        MemoRAG.load(folder, mem(), DenseRetriever(HashEmbedder(identity="other-embedder"), chunk_tokens=10,
                                                   chunk_overlap=0))
    with pytest.raises(IncompatibleStoreError, match="chunk_tokens: saved 10, given 20"):
        MemoRAG.load(folder, mem(), DenseRetriever(HashEmbedder(), chunk_tokens=20, chunk_overlap=0))
    with pytest.raises(IncompatibleStoreError, match="pass memory="):
        MemoRAG.load(folder)
    with pytest.raises(StoreNotFoundError):
        MemoRAG.load(tmp_path / "nothing-here")

    (folder / "chunks.jsonl").write_text((folder / "chunks.jsonl").read_text().replace("1969", "1970"))
    with pytest.raises(CorruptStoreError, match="chunks.jsonl does not match its checksum"):
        MemoRAG.load(folder, mem(), DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0))
    (folder / "chunks.jsonl").unlink()
    with pytest.raises(CorruptStoreError, match="chunks.jsonl is missing"):
        MemoRAG.load(folder, mem(), DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0))

    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["format_version"] = 99
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IncompatibleStoreError, match="format version 99.*upgrade"):
        MemoRAG.load(folder, mem())


def test_gisting_when_the_corpus_exceeds_the_memory_window(tmp_path):
    from memorag_integrations.memory.gist import GistCache

    gen = ScriptedGenerator()
    memory = PromptMemory(gen, max_memory_tokens=20, gist_chunk_tokens=30)
    memory.compressor.cache = GistCache(tmp_path / "gists")
    long_text = " ".join(f"word{i}" for i in range(400))
    memory.memorize([Document(long_text, "long")], progress=False)
    assert memory.gists and all(g.gist.startswith("GIST") for g in memory.gists)
    assert memory.gists[0].level >= 2  # the first gists did not fit: they were gisted again
    assert memory.context.startswith("GIST: GIST:") and gen.count_tokens(memory.context) <= 20
    calls = len(gen.calls)
    memory.memorize([Document(long_text, "long")], progress=False)  # every gist now comes from the cache
    assert len(gen.calls) == calls


def test_repr_shows_configuration():
    engine = make_engine()
    assert "scripted-test-model" in repr(engine) and "hash-embedder" in repr(engine)


def test_second_level_gisting_merges_only_as_much_as_the_budget_needs(tmp_path):
    from dataclasses import replace

    from memorag_integrations.memory.gist import Compressor, Gist, GistCache

    compressor = Compressor(ScriptedGenerator(), chunk_tokens=400, gist_tokens=10, cache=GistCache(tmp_path))
    gists = [Gist("d", i, i + 1, 1, f"gist {i} " + "word " * 19) for i in range(48)]
    groups = compressor._regroup(gists, every=2)  # one gist is 25 tokens to this generator
    assert 12 <= len(groups) <= 36 and max(g.text.count("\n") + 1 for g in groups) < 48  # small groups
    assert len(compressor._regroup(gists, every=10**9)) == 3  # only full groups (16 gists of 25 tokens) end
    assert len(compressor._regroup([replace(g, doc_id=str(i % 2)) for i, g in enumerate(gists)], 10**9)) == 48
    # A changed gist changes its own group and at most the one after: the others keep their text.
    changed = [replace(g, gist="a new gist " + "word " * 18) if i == 20 else g for i, g in enumerate(gists)]
    before, after = {g.text for g in groups}, {g.text for g in compressor._regroup(changed, every=2)}
    assert 1 <= len(after - before) <= 2


def embedded_engine(**options) -> MemoRAG:
    """An engine whose memory model reports itself as the embedded default (scripted here)."""
    from memorag_integrations.models import DEFAULT_LM

    gen = ScriptedGenerator()
    gen.identity = DEFAULT_LM
    retriever = DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0)
    return MemoRAG(PromptMemory(gen, gisting="generate"), retriever, progress=False, **options).memorize(TEXT)


def test_the_embedded_model_writes_no_clues_unless_asked():
    import asyncio

    engine = embedded_engine(rerank=0)
    calls = engine.memory.generator.calls
    assert engine.writes_clues is False
    before = len(calls)
    answer = engine.answer("When was the launch?", answer_mode="extractive")
    assert answer.clues is None and answer.evidence and len(calls) == before  # the memory was not asked
    assert engine.clues("When was the launch?") is None and asyncio.run(engine.aclues("When?")) is None
    assert len(calls) == before
    # Asked for, in the call or in the engine, it writes them as before.
    assert engine.expand("When was the launch?").spans == ["the launch happened in 1969", "crew of three"]
    assert engine.prepare("When was the launch?", write_clues=True).clues.spans
    assert asyncio.run(engine.aprepare("When was the launch?", write_clues=True)).clues.spans
    assert embedded_engine(write_clues=True).answer("When?", answer_mode="extractive").clues.spans
    assert make_engine().writes_clues is True  # any other model writes them by default


def test_write_clues_takes_only_a_bool_or_none():
    with pytest.raises(InvalidInputError, match="write_clues must be True, False or None"):
        make_engine(write_clues="yes")
    with pytest.raises(InvalidInputError, match="write_clues must be True, False or None"):
        make_engine().memorize(TEXT).prepare("When?", write_clues=1)
