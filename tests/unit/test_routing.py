"""Many documents: short documents are gisted together, and a routed query is expanded from the part of
the memory that holds the documents its own search finds first (scripted models, real FAISS)."""

from fakes import ContextRecorder, HashEmbedder

from memorag_integrations import Document, MemoRAG, PromptMemory
from memorag_integrations.memory.gist import Gist, GistCache
from memorag_integrations.retrieval.retriever import DenseRetriever

TOPICS = ["harbour ships August", "launch crew Florida", "weather rain March", "library books shelves",
          "orchard apples harvest", "railway station trains", "castle walls siege", "market bread cheese"]


def corpus(n=40):
    return [Document(f"Note {i} about {TOPICS[i % len(TOPICS)]}. " + "filler words here " * 6, f"d{i}",
                     {"topic": TOPICS[i % len(TOPICS)].split()[0]}) for i in range(n)]




def text_gist_calls(generator):
    """The gisting calls that read documents' text (level 1), not lower gists."""
    return [c for c in generator.calls if c.startswith("Condense") and "GIST:" not in c]


def make(tmp_path, route=None, docs=None, gist_chunk_tokens=120):
    generator = ContextRecorder()
    memory = PromptMemory(generator, max_memory_tokens=300, gist_chunk_tokens=gist_chunk_tokens, gist_tokens=16)
    memory.compressor.cache = GistCache(tmp_path / "gists")
    engine = MemoRAG(memory, DenseRetriever(HashEmbedder(), chunk_tokens=32, chunk_overlap=0), progress=False,
                     route=route)
    return engine.memorize(docs or corpus()), generator


def test_short_documents_are_gisted_together_and_their_gists_name_them(tmp_path):
    engine, generator = make(tmp_path)
    level1 = text_gist_calls(generator)
    assert 0 < len(level1) <= 30, "short documents should share sections (40 without packing)"
    first = [c for c in level1 if "### d0\n" in c]
    assert first and "### d1\n" in first[0]  # d0 and d1 were read in one section, each under its header
    assert all(g.doc_id is None and g.doc_ids for g in engine.memory.gists)
    covered = [d for g in engine.memory.gists for d in g.doc_ids]
    assert set(covered) == {f"d{i}" for i in range(40)}


def test_a_long_document_is_still_cut_and_never_packed(tmp_path):
    docs = [Document("Long text about the harbour. " * 200, "long"), *corpus(6)]
    engine, _ = make(tmp_path, docs=docs)
    own = [g for g in engine.memory.gists if g.doc_id == "long"]
    assert own or any("long" in g.doc_ids for g in engine.memory.gists)
    assert not any(g.doc_id is None and "long" in g.doc_ids and len(g.doc_ids) > 1 and g.level == 1
                   for g in engine.memory.gists)


def test_gists_round_trip_and_old_ones_load():
    packed = Gist(None, 0, 0, 1, "text", ("a", "b"))
    assert Gist.from_dict(packed.to_dict()) == packed
    assert Gist.from_dict({"doc_id": "x", "start": 0, "end": 5, "level": 1, "gist": "g"}).doc_ids == ()
    assert packed.covers({"b"}) and not packed.covers({"c"}) and Gist("x", 0, 1, 1, "g").covers({"x"})


def test_a_filtered_part_of_a_packed_memory_keeps_the_gists_that_cover_it(tmp_path):
    engine, _ = make(tmp_path)
    many = [f"d{i}" for i in range(0, 40, 2)]  # too much text to read as it is
    part = engine.memory_for(engine.select(many))
    assert part.gists and all(g.covers(set(many)) for g in part.gists)


def test_routing_expands_from_the_documents_the_query_finds(tmp_path):
    engine, generator = make(tmp_path, route=2)
    routed = engine.routed("castle walls siege")
    assert routed is not None and len(routed) == 2
    assert all("castle" in d.text for d in routed)
    generator.contexts.clear()
    answer = engine.answer("castle walls siege")
    assert generator.contexts and all("castle walls siege" in c and "orchard" not in c for c in generator.contexts)
    assert answer.evidence  # retrieval still searches the whole corpus
    # a filter first, then routing within it
    within = engine.routed("castle walls siege", engine.select(where={"topic": "market"}))
    assert within is not None and {d.metadata["topic"] for d in within} == {"market"}


def test_routing_stays_off_where_the_corpus_fits_or_is_small(tmp_path):
    engine, generator = make(tmp_path, route=2, docs=corpus(3))
    assert not engine.memory.gists and engine.routed("castle") is None  # one window holds it all
    generator.contexts.clear()
    engine.answer("harbour ships")
    assert generator.contexts and all("weather rain" in c for c in generator.contexts)
    unrouted, _ = make(tmp_path)
    assert unrouted.routed("castle walls siege") is None


def test_packed_gists_and_routing_survive_save_and_load(tmp_path):
    engine, _ = make(tmp_path, route=2)
    folder = engine.save(tmp_path / "saved")
    memory = PromptMemory(ContextRecorder(), max_memory_tokens=300, gist_chunk_tokens=120, gist_tokens=16)
    loaded = MemoRAG.load(folder, memory, DenseRetriever(HashEmbedder(), chunk_tokens=32, chunk_overlap=0),
                          progress=False, route=2)
    assert loaded.memory.gists == engine.memory.gists and loaded.memory.context == engine.memory.context
    assert loaded.routed("castle walls siege") == engine.routed("castle walls siege")


def test_deleting_a_short_document_regists_only_the_sections_around_it(tmp_path):
    # Sections of up to ~14 of these documents: a cut every 16 documents or so (PACK_EVERY) keeps
    # a change within its own group of one or two sections.
    engine, generator = make(tmp_path, docs=corpus(120), gist_chunk_tokens=600)
    level1 = text_gist_calls(generator)
    generator.calls.clear()
    engine.delete("d60")
    again = text_gist_calls(generator)
    assert len(level1) >= 8 and 1 <= len(again) <= 3, (len(level1), len(again))
    assert "Note 60 " not in "".join(again)


def test_a_changed_corpus_holds_what_memorizing_it_from_scratch_gives(tmp_path):
    docs = corpus(50)
    engine, _ = make(tmp_path / "a", docs=docs[:49], gist_chunk_tokens=600)
    engine.add(docs[49]).delete("d20").update(Document("Note 7, rewritten about castles.", "d7"))
    final = [Document("Note 7, rewritten about castles.", "d7") if d.doc_id == "d7" else d
             for d in docs if d.doc_id != "d20"]
    scratch, _ = make(tmp_path / "b", docs=final, gist_chunk_tokens=600)
    assert engine.documents == scratch.documents
    assert engine.memory.context == scratch.memory.context and engine.memory.gists == scratch.memory.gists
    def spans(e):  # an updated document's chunks are indexed last: the same chunks, in another order
        return sorted((c.doc_id, c.start, c.end, c.text) for c in e.retriever.chunks)

    assert spans(engine) == spans(scratch)
    # the same search results (these notes tie often: compare the scores, and the one clear best hit)
    (found,), (expected,) = engine.retriever.search(["rewritten castles"], 10), scratch.retriever.search(
        ["rewritten castles"], 10)
    assert [round(h.score, 5) for h in found] == [round(h.score, 5) for h in expected]
    assert found[0].item.doc_id == expected[0].item.doc_id == "d7"
