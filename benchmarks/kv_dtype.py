"""The KV cache saved in half precision or 8 bits: its size on disk against the model's own type, and
whether the memory, loaded back, writes the same clues and retrieves the same evidence.

Memorizes part of the Python Language Reference verbatim (about 3.8k tokens, no gisting) with the
embedded SmolLM2, saves it as it is and with each ``kv_dtype`` (float16, bfloat16, int8), loads each and asks
the same questions. Prints the figures and writes benchmarks/results/kv-dtype.{json,md}.

    python -m benchmarks.kv_dtype
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pydoc_data.topics

from memorag_integrations import Document, MemoRAG
from memorag_integrations.kvcodec import KV_DTYPES
from memorag_integrations.memory.kv import KVMemory

from benchmarks import report

RESULTS = Path(__file__).resolve().parent / "results"
TOPICS = ("for", "while", "break", "continue", "try", "with")
QUESTIONS = ("How do I stop a loop early?", "What does assert do under -O?", "When does the else clause of a loop run?",
             "How are exceptions matched in try?", "What does with do on exit?", "Can continue appear in finally?")


def main() -> dict:
    text = "\n\n".join(f"{t}\n\n{pydoc_data.topics.topics[t]}" for t in TOPICS)
    engine = MemoRAG(KVMemory(), progress=False, clue_tokens=48).memorize(Document(text, "langref"))
    root = Path(tempfile.mkdtemp())
    reference = engine.save(root / "model-dtype")
    base = MemoRAG.load(reference, progress=False, clue_tokens=48)
    expected = {q: base.clues(q) for q in QUESTIONS}
    evidence = {q: [e.char_span for e in base.retrieve(q, clues=expected[q])] for q in QUESTIONS}
    rows = [{"kv_dtype": str(engine.memory.lm.model.dtype).removeprefix("torch."),
             "bytes": (reference / "memory.safetensors").stat().st_size, "same_clues": len(QUESTIONS),
             "same_evidence": len(QUESTIONS)}]
    for dtype in KV_DTYPES:
        folder = engine.save(root / dtype, kv_dtype=dtype)
        loaded = MemoRAG.load(folder, progress=False, clue_tokens=48)
        clues = {q: loaded.clues(q) for q in QUESTIONS}
        rows.append({"kv_dtype": dtype, "bytes": (folder / "memory.safetensors").stat().st_size,
                     "same_clues": sum(clues[q] == expected[q] for q in QUESTIONS),
                     "same_evidence": sum([e.char_span for e in loaded.retrieve(q, clues=clues[q])] == evidence[q]
                                          for q in QUESTIONS)})
    result = {"memory_tokens": engine.memory.prefix_tokens, "questions": len(QUESTIONS), "rows": rows}
    lines = [f"# KV cache on disk ({result['memory_tokens']} memory tokens, {len(QUESTIONS)} questions)", "",
             "| kv_dtype | memory.safetensors MB | share | same clues | same evidence |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(f"| {row['kv_dtype']} | {row['bytes'] / 2**20:.1f} | {row['bytes'] / rows[0]['bytes']:.2f} | "
                     f"{row['same_clues']}/{len(QUESTIONS)} | {row['same_evidence']}/{len(QUESTIONS)} |")
    report.save_figures(result, "\n".join(lines), RESULTS, "kv-dtype")
    return result


if __name__ == "__main__":
    main()
