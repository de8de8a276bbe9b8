"""Memory-led rounds: the memory's search for what the found passages lack, parsed and added to the
clues, and the benchmark variant that runs one round."""

import pytest
from fakes import HashEmbedder, ScoringGenerator

from benchmarks.methods import Methods
from memorag_integrations import Clues, Document, MemoRAG
from memorag_integrations.memory.prompt import PromptMemory
from memorag_integrations.prompts import ENGLISH, get_prompts
from memorag_integrations.retrieval.retriever import DenseRetriever
from memorag_integrations.rounds import missing_instruction, parse_missing, with_missing

QUERY = "Who flew on the 1969 launch?"


def test_the_instruction_holds_the_question_and_the_numbered_passages():
    text = missing_instruction(QUERY, ["The launch happened in 1969.", "It carried three people."], ENGLISH)
    assert QUERY in text and "[1] The launch happened in 1969." in text and "[2] It carried three people." in text
    assert "write NONE" in text
    assert "NONE" in missing_instruction(QUERY, ["x"], get_prompts("zh"))


@pytest.mark.parametrize("output, expected", [
    ("NONE", None),
    ("none.", None),
    ("  NONE - the passages say it all", None),
    ("Search query: commander of the 1969 launch", "commander of the 1969 launch"),
    ('1. "commander of the 1969 launch"\n2. crew names', "commander of the 1969 launch"),
    ("", None),
    (QUERY, None),  # the question echoed back searches nothing new
    ("The question does not require any additional passagees to answer.", None),  # NONE in words
    ("No further information is needed.", None),
    ("Nothing is missing", None),
    ("The passages don't need more evidence", None),
    ("crew names of the 1969 launch", "crew names of the 1969 launch"),
])
def test_the_memorys_search_is_parsed_or_refused(output, expected):
    assert parse_missing(output, QUERY) == expected


def test_a_rounds_search_joins_the_clue_spans_and_keeps_the_rest():
    clues = Clues(["launch in 1969"], ["Who flew?"], "a draft")
    grown = with_missing(clues, "commander of the launch")
    assert grown.spans == ["launch in 1969", "commander of the launch"]
    assert grown.surrogate_questions == ["Who flew?"] and grown.draft == "a draft"
    assert clues.spans == ["launch in 1969"]  # the first round's clues are not changed
    assert with_missing(None, "x").queries() == ["x"]


TEXT = "\n\n".join(
    f"Section {i}. " + ("The launch happened in 1969." if i == 3 else
                        "Armstrong commanded it." if i == 11 else f"Filler words about topic {i}.")
    for i in range(20))


def test_the_round_variant_searches_what_the_memory_names():
    generator = ScoringGenerator()
    engine = MemoRAG(PromptMemory(generator), DenseRetriever(HashEmbedder(), chunk_tokens=12, chunk_overlap=0),
                     generator, progress=False).memorize(Document(TEXT, "d"))
    methods = Methods(engine, 5, expand_tokens=16, answer_tokens=16)
    first, rounds = methods.run("memorag", QUERY), methods.run("memorag_rounds", QUERY)
    asked = [c for c in generator.calls if "passages do not say" in c]
    assert len(asked) == 1 and "[1]" in asked[0] and "commanded" not in asked[0]  # over what was first found
    assert rounds.queries == [*first.queries[:2], "who commanded it", *first.queries[2:]]  # a clue span more
    assert rounds.model_calls == first.model_calls + 2  # the memory's call and one more ranking
    found = engine.retriever.search(["who commanded it"], 1)[0][0].item
    assert "commanded" in found.text and found not in first.chunks  # what the round searches, the first missed


def test_the_round_changes_nothing_when_the_memory_says_nothing_is_missing():
    generator = ScoringGenerator()
    text = TEXT.replace("The launch happened in 1969.", "The launch happened in 1969; Armstrong commanded it.")
    engine = MemoRAG(PromptMemory(generator), DenseRetriever(HashEmbedder(), chunk_tokens=12, chunk_overlap=0),
                     generator, progress=False).memorize(Document(text, "d"))
    methods = Methods(engine, 5, expand_tokens=16, answer_tokens=16)
    first, rounds = methods.run("memorag", QUERY), methods.run("memorag_rounds", QUERY)
    assert "commanded" in " ".join(c.text for c in first.chunks)
    assert rounds.chunks == first.chunks and rounds.queries == first.queries
