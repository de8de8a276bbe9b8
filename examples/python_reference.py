"""The main job: memorize the Python Language Reference and ask it questions, fully offline.

The Language Reference ships with every CPython as ``pydoc_data.topics`` (about 65k words).
The memorized corpus is saved to ./memorag-langref and loaded from there on later runs.

    python examples/python_reference.py [--save-dir DIR] [--fresh]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pydoc_data.topics

from memorag_integrations import Document, MemoRAG

QUESTIONS = [
    "How can a class customise what happens when one of its attributes is looked up?",
    "What are the different ways to leave a loop or a function early?",
    "How do Python's scoping rules decide which variable a name refers to?",
]


def language_reference() -> Document:
    topics = sorted(pydoc_data.topics.topics.items())
    text = "\n\n".join(f"{name}\n{'=' * len(name)}\n\n{body.strip()}" for name, body in topics)
    return Document(text, doc_id="python-language-reference")


def show(answer) -> None:
    if answer.clues:
        for span in answer.clues.spans:
            print(f"  clue: {span[:160]}")
        for q in answer.clues.surrogate_questions:
            print(f"  surrogate question: {q}")
    for i, ev in enumerate(answer.evidence, 1):
        print(f"  evidence [{i}] {ev.doc_id} chars {ev.char_span[0]}-{ev.char_span[1]} "
              f"score {ev.score:.4f} found by {len(ev.matched_queries)} queries")
    print(f"  answer: {answer.text}")
    print("  timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in answer.timings.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save-dir", default="memorag-langref")
    parser.add_argument("--fresh", action="store_true", help="memorize again even if the folder exists")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    save_dir = Path(args.save_dir)
    t0 = time.perf_counter()
    if save_dir.exists() and not args.fresh:
        engine = MemoRAG.load(save_dir)
        print(f"loaded {save_dir} in {time.perf_counter() - t0:.1f}s")
    else:
        doc = language_reference()
        engine = MemoRAG()
        engine.memorize(doc, save_dir=save_dir, overwrite=True)
        print(f"memorized the Language Reference ({len(doc.text.split())} words, "
              f"{len(engine.retriever.chunks)} chunks) "
              f"in {time.perf_counter() - t0:.1f}s -> {save_dir}")
    for question in QUESTIONS:
        print(f"\nQ: {question}")
        show(engine.answer(question, task="memorag"))
    print("\nSummary of the Language Reference:")
    show(engine.summarize())


if __name__ == "__main__":
    main()
