"""The filler filter on lines the memory model really wrote (saved by the benchmarks): lines that
echo the instructions, talk about the task or stop mid-phrase are dropped before they are searched
or shown; lines with the text's content are kept."""

import json
from pathlib import Path

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from memorag_integrations import MemoRAG, PromptMemory
from memorag_integrations.filler import CUT, ECHO, TALK, clean, filler_reason
from memorag_integrations.prompts import parse_items
from memorag_integrations.retrieval.retriever import DenseRetriever

EXAMPLES = json.loads((Path(__file__).parent / "data" / "filler_examples.json").read_text(encoding="utf-8"))["examples"]
KINDS = {"echo": ECHO, "talk": TALK, "cut": CUT, None: None}


def test_the_examples_come_from_saved_benchmark_outputs():
    root = Path(__file__).resolve().parents[2]
    for example in EXAMPLES:
        saved = (root / example["source"]).read_text(encoding="utf-8")
        assert json.dumps(example["line"], ensure_ascii=False)[1:-1] in saved, example


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e["line"][:40])
def test_real_outputs_are_dropped_or_kept(example):
    assert clean(example["line"]) == example["kept"]
    assert filler_reason(example["line"]) == KINDS[example["kind"]]


def test_parse_items_drops_filler_from_a_whole_output():
    lines = [e["line"] for e in EXAMPLES]
    kept = parse_items("\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1)), max_items=len(lines))
    assert kept == [e["kept"] for e in EXAMPLES if e["kept"] is not None]
    assert parse_items("\n".join(lines), max_items=len(lines), drop_filler=False) == lines


@pytest.mark.parametrize("line", [
    "One question per line.", "Rewrite it as a few specific questions", "每行一个问题。",
    "Write one passage per line, copied as closely as you can.", "What does that mean?",
    "The original text discusses the use of a custom sorting algorithm called merge_sort",
    "So, the answer is yes, it does.", "I hope this helps!", "Here are some specific questions",
    # The embedded model's surrogate questions for the main job's loop question (examples/python_reference.py).
    'When should you use a while loop instead of a for...in loop?" - This is another one where I\'ll give you a '
    'couple of tips on when to use a while loop over a for.',
    "Original text contains multiple sentences with long phrases.",  # its key point for the summary
])
def test_echoes_and_talk_from_the_issue_are_filler(line):
    assert clean(line) is None


@pytest.mark.parametrize("line", [
    "The break statement terminates the nearest enclosing for or while loop.", "公司在疫情期间转向线上销售",
    "The key points of the treaty were signed in 1919 by France", "crew members", "What does gall bladder mean?",
    "How is the question of succession settled in the constitution?", "You can walk to the beach in five minutes.",
])
def test_content_is_kept_even_near_the_instructions_words(line):
    assert clean(line) == line


def test_filler_never_reaches_the_searches_or_the_clues():
    class Chatty(ScriptedGenerator):
        def generate(self, prompt, max_new_tokens=256, *, temperature=0.0, stop=None):
            text = super().generate(prompt, max_new_tokens, temperature=temperature, stop=stop)
            if "specific questions" in str(prompt):
                return "One question per line.\nWhat does that mean?\n" + text + "\nIn what year was the"
            return text

    retriever = DenseRetriever(HashEmbedder(), chunk_tokens=10, chunk_overlap=0)
    engine = MemoRAG(PromptMemory(Chatty()), retriever, progress=False, rerank=0)
    engine.memorize("In the end the launch happened in 1969 from Florida.\n\nThe crew of three trained in Houston.")
    answer = engine.answer("When was the launch?")
    assert answer.clues.surrogate_questions == ["When did the launch happen?", "Who was in the crew?"]
    found_by = {q for e in answer.evidence for q in e.matched_queries}
    assert not found_by & {"One question per line.", "What does that mean?", "In what year was the"}


def test_a_labelled_quotation_keeps_the_quotation():
    # Key points the embedded SmolLM2 wrote for the lighthouse text of tests/slow/test_server_api.py.
    output = ('Here is a list of key points in a summary:\n\n1. The original text: "The harbour office kept the '
              'lighthouse logs."\n2. The main idea: "A storm flooded the lower rooms of the lighthouse and that '
              'year\'s logbook was lost."\n4. The main consequence: "August"\n14. The main point: "')
    assert parse_items(output) == [
        "The harbour office kept the lighthouse logs.",
        "A storm flooded the lower rooms of the lighthouse and that year's logbook was lost."]
    assert clean('So, the answer is: "Red Lions Basketball Team') is None
    assert clean('Example answer: "When the contract ends is determined by the date') is None
