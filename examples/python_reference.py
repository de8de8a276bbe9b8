"""The main job: memorize the Python Language Reference and ask it questions, fully offline.

The Language Reference ships with every CPython as ``pydoc_data.topics`` (about 65k words).
The memorized corpus is saved to ./memorag-langref and loaded from there on later runs.

For each question it prints the best evidence as text (an excerpt with its best-matching sentence
marked >>like this<<) and the queries that found it, the answer with its citations and the timings.
The embedded SmolLM2-135M cannot write a faithful answer, so by default the answer quotes the
evidence's own sentences (``answer_mode="auto"``); ``--answer-mode generate`` shows what the small
model writes instead, and the end of the output says how to have a capable model write the answers.
Nor do its clues find more than the question does (benchmarks/README.md), so it writes none unless
asked: ``--clues`` prints them (clue spans, surrogate questions) and searches them too.

    python examples/python_reference.py [--save-dir DIR] [--fresh] [--answer-mode auto|extractive|generate] [--clues]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pydoc_data.topics

from memorag_integrations import Document, MemoRAG
from memorag_integrations.extractive import answer_quotes, candidates, display

QUESTIONS = [
    "How can a class customise what happens when one of its attributes is looked up?",
    "What are the different ways to leave a loop or a function early?",
    "How do Python's scoping rules decide which variable a name refers to?",
]


def language_reference() -> Document:
    topics = sorted(pydoc_data.topics.topics.items())
    text = "\n\n".join(f"{name}\n{'=' * len(name)}\n\n{body.strip()}" for name, body in topics)
    return Document(text, doc_id="python-language-reference")


#: Characters of the top evidence shown around its marked sentence.
EXCERPT_CHARS = 420

GENERATOR_HINT = """\
The answers above quote the corpus: the embedded SmolLM2-135M retrieves well but cannot write a
faithful answer. For answers written by a capable model (with [n] citations of the evidence), load
the saved folder with that model as the generator; the memory and the index stay as they are:

    from memorag_integrations import MemoRAG
    from memorag_integrations.llm.openai import OpenAIGenerator      # any OpenAI-compatible server
    engine = MemoRAG.load("{folder}", generator=OpenAIGenerator("gpt-4o-mini"))   # or base_url="http://host:8000/v1"
    # a local GGUF: from memorag_integrations.llm.llamacpp import LlamaCppGenerator
    #               MemoRAG.load("{folder}", generator=LlamaCppGenerator("path/to/model.gguf"))
    print(engine.answer("...").text)   # answer_mode="auto" has the named model write the answer
"""


def marked_excerpt(text: str, span: tuple[int, int], mark: tuple[int, int], width: int = EXCERPT_CHARS) -> str:
    """The passage ``text[span]`` trimmed to about ``width`` characters around the sentence at
    ``mark`` (both spans in the document), the sentence between >> and <<, on one line."""
    start, end = span
    lo = max(start, min(mark[0] - width // 3, end - width))
    hi = min(end, max(mark[1] + width // 3, lo + width))
    before, sentence, after = (display(text[a:b]) for a, b in ((lo, mark[0]), mark, (mark[1], hi)))
    return (f"{'... ' if lo > start else ''}{before} >>{sentence}<< {after}"
            f"{' ...' if hi < end else ''}").replace("  ", " ").strip()


def best_sentence(engine: MemoRAG, question: str, answer) -> tuple[int, int] | None:
    """Where the top evidence best answers the question: the answer's quote from it, else its
    sentence closest to the question (a summary: its first quote's sentence)."""
    quoted = [q for q in answer.quotes if q.evidence == 1]
    if quoted:
        return quoted[0].char_span
    texts = {d.doc_id: d.text for d in engine.documents}
    found = candidates(answer.evidence[:1], texts)
    if not question or not found:
        return None
    best = answer_quotes(question, found, engine.retriever.embedder.encode, sentences=1)
    return best[0].char_span if best else None


def show(engine: MemoRAG, question: str, answer) -> None:
    if answer.clues:
        for span in answer.clues.spans[:4]:
            print(f"  clue: {display(span)[:160]}")
        for q in answer.clues.surrogate_questions[:4]:
            print(f"  surrogate question: {display(q)[:160]}")
    texts = {d.doc_id: d.text for d in engine.documents}
    for i, ev in enumerate(answer.evidence, 1):
        found_by = ", ".join(q if len(q) < 60 else q[:57] + "..." for q in ev.matched_queries[:2])
        more = f" and {len(ev.matched_queries) - 2} more" if len(ev.matched_queries) > 2 else ""
        print(f"  evidence [{i}] {ev.doc_id} chars {ev.char_span[0]}-{ev.char_span[1]}, found by: {found_by}{more}")
        if i == 1:
            mark = best_sentence(engine, question, answer)
            excerpt = (marked_excerpt(texts[ev.doc_id], ev.char_span, mark) if mark and ev.doc_id in texts
                       else display(ev.text)[:EXCERPT_CHARS])
            print(f"    {excerpt}")
    how = "quoted from the evidence" if answer.mode == "extractive" else "written by the model from the evidence"
    print(f"  answer ({how}):")
    if answer.mode == "extractive" and answer.quotes:
        for line, q in zip(answer.text.splitlines(), answer.quotes):  # one quote a line
            print(f"    {line}\n        ({q.doc_id} chars {q.char_span[0]}-{q.char_span[1]})")
    else:
        for line in answer.text.splitlines() or [""]:
            print(f"    {line}")
    cited = [c.number for c in answer.citations if c.cited]
    if answer.mode == "generate":
        print(f"  citations: {', '.join(f'[{n}]' for n in cited) or 'none in the text'} of the "
              f"{len(answer.evidence)} numbered passages above")
    print("  timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in answer.timings.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save-dir", default="memorag-langref")
    parser.add_argument("--fresh", action="store_true", help="memorize again even if the folder exists")
    parser.add_argument("--answer-mode", choices=("auto", "extractive", "generate"), default="auto",
                        help="auto (default): quotes with the embedded model; generate: the model writes the answers")
    parser.add_argument("--clues", action="store_true", help="have the memory write clues and search them too")
    args = parser.parse_args()
    options = {"answer_mode": args.answer_mode, "write_clues": True if args.clues else None}
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    save_dir = Path(args.save_dir)
    t0 = time.perf_counter()
    if save_dir.exists() and not args.fresh:
        engine = MemoRAG.load(save_dir, **options)
        print(f"loaded {save_dir} in {time.perf_counter() - t0:.1f}s")
    else:
        doc = language_reference()
        engine = MemoRAG(**options)
        engine.memorize(doc, save_dir=save_dir, overwrite=True)
        print(f"memorized the Language Reference ({len(doc.text.split())} words, "
              f"{len(engine.retriever.chunks)} chunks) "
              f"in {time.perf_counter() - t0:.1f}s -> {save_dir}")
    t1 = time.perf_counter()
    for question in QUESTIONS:
        print(f"\nQ: {question}")
        show(engine, question, engine.answer(question, task="memorag"))
    print("\nSummary of the Language Reference (its most central sentences, in order):"
          if engine.answer_mode_for("summarize") == "extractive" else "\nSummary of the Language Reference:")
    show(engine, "", engine.summarize())
    print(f"\n{len(QUESTIONS)} questions and a summary in {time.perf_counter() - t1:.1f}s "
          f"({time.perf_counter() - t0:.1f}s in all)")
    if engine.answer_mode_for("memorag") == "extractive":
        print("\n" + GENERATOR_HINT.format(folder=save_dir))


if __name__ == "__main__":
    main()
