"""Filters with the real embedded models: a filtered query reads only its documents' part of the memory
(a KV cache of their own, on transformers and on llama.cpp) and retrieves only their chunks; the
corpus's own cache is left as it was."""

import pytest
from testdata import language_reference_slice

from memorag_integrations import Document, MemoRAG
from memorag_integrations.memory.gist import GistCache

pytestmark = pytest.mark.slow

FAST = {"clue_tokens": 24, "answer_tokens": 16, "k": 4, "write_clues": True}  # the part memory writes the clues
TOPICS = ("break", "assert", "with")
QUESTION = "What happens when the assertion fails?"


def documents():
    return [Document(language_reference_slice((topic,))[:1500], topic, {"kind": "statement", "topic": topic})
            for topic in TOPICS]


def make(backend, tmp_path):
    from memorag_integrations.memory.kv import kv_memory

    options = {"n_threads": 1} if backend == "llamacpp" else {}
    memory = kv_memory(backend=backend, **options)
    memory.compressor.cache = GistCache(tmp_path / "gists")
    return MemoRAG(memory, progress=False, **FAST).memorize(documents())


@pytest.mark.parametrize("backend", ["transformers", "llamacpp"])
def test_a_filtered_query_reads_its_part_and_leaves_the_corpus_memory_alone(backend, tmp_path):
    if backend == "llamacpp":
        pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (extra 'llamacpp')")
    engine = make(backend, tmp_path)
    before = engine.clues(QUESTION)

    answer = engine.answer(QUESTION, doc_ids=["assert"])
    part = engine.memory_for(engine.select("assert"))
    assert part is not engine.memory and part.prefix_tokens < engine.memory.prefix_tokens / 2
    assert part.context.strip() == engine.documents[1].text.strip()  # one short document: its own text
    assert answer.evidence and {e.doc_id for e in answer.evidence} == {"assert"}
    assert answer.clues is not None  # the part was asked (its small model's lines may all be filler)
    assert answer.clues == engine.clues(QUESTION, doc_ids="assert")  # the part is kept, and greedy

    # The corpus's memory answers as before (llama.cpp shares one context between the two caches).
    assert engine.clues(QUESTION) == before
    found = engine.retrieve(QUESTION, where={"topic": ["break", "with"]})
    assert found and {e.doc_id for e in found} <= {"break", "with"}
