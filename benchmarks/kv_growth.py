"""Decoding over a kept memory on transformers: its own cache, which grows by concatenation (a copy
of the whole cache per generated token), against the cache that grows in place (``llm/kv_room.py``).

For memories of about 1k, 2k and 3.9k tokens of the Python Language Reference, held verbatim by the
embedded SmolLM2: the seconds to write 96 greedy tokens after a memory instruction (the engine's clue
budget), alone and as a batch of three rows over the one memory (a query's memory calls decoded
together), each way measured alternately, the faster of two; and whether both ways wrote the same tokens.

    python -m benchmarks.kv_growth [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.run import RESULTS, environment
from benchmarks.speed import cut_to_tokens

MEMORY_TOKENS, NEW_TOKENS, BATCHES = (1000, 2000, 3900), 96, (1, 3)


def text() -> str:
    import pydoc_data.topics

    names = ("for", "while", "try", "with", "class", "import", "function", "assert", "raise", "lambda")
    return "\n\n".join(pydoc_data.topics.topics[t] for t in names)


def decode(generator, prefix, suffix_ids, batch: int, in_place: bool) -> list[list[int]]:
    import torch

    from memorag_integrations.llm.kv_room import cache_with_room, concatenating_cache

    layers, config = list(zip(prefix.keys, prefix.values)), generator.model.config
    if in_place:
        cache = cache_with_room(config, NEW_TOKENS, layers, batch)
    else:
        cache = concatenating_cache(config, layers, batch)
    ids = torch.cat([prefix.input_ids, suffix_ids], dim=1).expand(batch, -1)
    with torch.inference_mode():
        out = generator.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), min_new_tokens=NEW_TOKENS,
                                       **generator._cache_kwarg(cache), **generator.generation_kwargs(NEW_TOKENS, 0.0))
    return out[:, ids.shape[1]:].tolist()


def run() -> list[dict[str, Any]]:
    from memorag_integrations.llm.transformers import TransformersGenerator
    from memorag_integrations.prompts import ENGLISH

    generator, source, rows = TransformersGenerator(), text(), []
    instruction = ENGLISH.memory_answer.format(query="What does the text say about loops?")
    suffix = generator.encode(generator.render(instruction))
    for size in MEMORY_TOKENS:
        prefix = generator.prefill(cut_to_tokens(source, generator, size))
        for batch in BATCHES:
            tokens: dict[bool, list[list[int]]] = {}
            seconds: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(2):  # alternately, so a noisy machine slows both ways alike
                for in_place in (False, True):
                    t0 = time.perf_counter()
                    tokens[in_place] = decode(generator, prefix, suffix, batch, in_place)
                    seconds[in_place].append(time.perf_counter() - t0)
            concat, room = min(seconds[False]), min(seconds[True])
            rows.append({"memory_tokens": prefix.length, "batch": batch, "concatenating_s": round(concat, 2),
                         "in_place_s": round(room, 2), "speedup": round(concat / room, 2),
                         "same_tokens": tokens[False] == tokens[True]})
            print(rows[-1], flush=True)
    return rows


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = ["# Decoding over a kept memory: concatenating cache against in-place cache (transformers)", "",
             f"Embedded SmolLM2-135M, {NEW_TOKENS} greedy tokens after a memory instruction, best of two, measured "
             f"alternately; {env['cpus']} CPUs, {env['date']}.", "",
             "| memory tokens | rows | concatenating s | in place s | speed-up | same tokens |",
             "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['memory_tokens']:,} | {r['batch']} | {r['concatenating_s']:.2f} | {r['in_place_s']:.2f} "
                     f"| {r['speedup']:.2f}x | {'yes' if r['same_tokens'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kv_growth", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = {"rows": run(), "new_tokens": NEW_TOKENS, "environment": environment()}
    report.save_figures(result, markdown(result), args.out, "kv-growth")


if __name__ == "__main__":
    main()
