"""Gists without a model (``gisting="extract"``): each section's representative sentences, quoted."""

import json

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import CorruptStoreError, InvalidInputError, MemoRAG, PromptMemory
from memorag_integrations.memory.extract import extract_gist
from memorag_integrations.memory.gist import Compressor, resolve_gisting
from memorag_integrations.memory.registry import saved_options
from memorag_integrations.models import DEFAULT_LM
from memorag_integrations.prompts import ENGLISH
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.schema import Document
from memorag_integrations.store import MANIFEST


def words(text: str) -> int:
    return len(text.split())


SECTION = ("The harbour town built a new bridge in 1998. "
           "The bridge joined the harbour to the old market. "
           "Fishing boats still use the harbour every morning. "
           "A storm in 2004 damaged the bridge and closed the market for a month. "
           "Tourists now visit the market for its fish and its bridge views.")


def test_a_gist_is_whole_sentences_of_the_section_in_their_order_within_the_budget():
    gist = extract_gist(SECTION, 25, words)
    assert words(gist) <= 25
    sentences = [s.strip() for s in SECTION.replace(". ", ".\n").splitlines()]
    picked = [s for s in sentences if s in gist]
    assert picked and " ".join(picked) == gist  # nothing but whole sentences, joined in section order
    assert [sentences.index(s) for s in picked] == sorted(sentences.index(s) for s in picked)


def test_the_second_sentence_says_what_the_first_did_not():
    text = ("Alpha alpha beta gamma delta went up. Alpha beta gamma delta went up again. "
            "Epsilon zeta rose slowly over the year.")
    gist = extract_gist(text, 16, words)
    assert "Alpha alpha beta gamma delta went up." in gist
    # The near-repeat of the first shares its words; once they are said, the new sentence wins.
    assert "Epsilon zeta rose slowly over the year." in gist and "again" not in gist


def test_text_without_prose_gives_its_opening_cut_to_the_budget():
    code = "def f(x):\n    return x + 1\n\nprint(f(2))  # 3"
    assert extract_gist(code, 4, words) == "def f(x): return x"
    assert extract_gist("", 10, words) == ""


def test_gisting_auto_extracts_for_the_embedded_model_only():
    embedded = ScriptedGenerator()
    embedded.identity = DEFAULT_LM
    assert resolve_gisting("auto", embedded) == "extract"
    assert resolve_gisting("auto", ScriptedGenerator()) == "generate"
    assert resolve_gisting("generate", embedded) == "generate"
    with pytest.raises(InvalidInputError, match="gisting must be"):
        resolve_gisting("summarize", embedded)


def test_an_extracting_compressor_never_asks_the_model():
    gen = ScriptedGenerator()
    compressor = Compressor(gen, chunk_tokens=30, gist_tokens=12, gisting="extract")
    text = " ".join([SECTION] * 6)
    context, gists = compressor.build_context([Document(text, doc_id="town")], ENGLISH, budget=60, progress=False)
    assert gists and not gen.calls
    assert all(g.gist and g.gist in text for g in gists if g.level == 1)
    assert gen.count_tokens(context) <= 60


def test_a_memory_records_its_gisting_and_an_older_manifest_loads(tmp_path):
    gen = ScriptedGenerator()
    memory = PromptMemory(gen, gisting="extract")
    assert memory.config()["gisting"] == "extract"
    assert saved_options({"kind": "prompt"})["gisting"] == "auto"  # a manifest from before the setting
    with pytest.raises(CorruptStoreError, match="gisting"):
        saved_options({"kind": "prompt", "gisting": "invent"})
    engine = MemoRAG(memory, DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0), progress=False)
    engine.memorize(SECTION, tmp_path / "saved")
    manifest = json.loads((tmp_path / "saved" / MANIFEST).read_text())
    del manifest["memory"]["gisting"]  # as an older version wrote it
    (tmp_path / "saved" / MANIFEST).write_text(json.dumps(manifest))
    loaded = MemoRAG.load(tmp_path / "saved", memory=PromptMemory(gen), progress=False,
                          retriever=DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0))
    assert loaded.memory.context == engine.memory.context
