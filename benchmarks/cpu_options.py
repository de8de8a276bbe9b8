"""CPU inference options of both backends, measured in one run on the embedded SmolLM2.

For each option: raw prefill tokens/s (a 1,536-token prompt, a gist section's size, best of two),
greedy decode tokens/s (64 tokens after it), and whether its greedy output matches the default's
(the first 32 tokens of a gist). The options:

- transformers: 2 threads (the default) or 1; SDPA (the default) or eager attention; int8 dynamic
  quantization of the linear layers (``torch.ao.quantization.quantize_dynamic``); bfloat16 only where
  the processor has native support (``torch.backends.cpu.get_cpu_capability()`` names AVX512-BF16 or AMX).
- llama.cpp, against the packaged Q4_1 file: 1 thread instead of 2; flash attention off; a batch of
  2,048 tokens instead of 512; an 8-bit KV cache (q8_0) instead of f16; the weights rewritten in
  Q8_0, F16 (what ``weights="auto"`` runs the embedded model from) and Q4_0 by llama.cpp's own quantizer.

    python -m benchmarks.cpu_options [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import ctypes
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.run import RESULTS, environment
from benchmarks.speed import best_seconds, cut_to_tokens

PROMPT_TOKENS, DECODE_TOKENS, COMPARED_TOKENS = 1536, 64, 32


def native_bf16() -> bool:
    """Whether the processor computes bfloat16 itself (AVX512-BF16 or AMX): elsewhere torch
    emulates it, slowly. ``get_cpu_capability`` names only the widest vector set (AVX512 on a
    processor with AVX512-BF16), so the flags are asked for one by one."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def text() -> str:
    import pydoc_data.topics

    return "\n\n".join(pydoc_data.topics.topics[t] for t in ("for", "while", "try", "with", "class", "import"))


def transformers_rows(source: str) -> list[dict[str, Any]]:
    import torch

    from memorag_integrations.llm.transformers import TransformersGenerator
    from memorag_integrations.prompts import ENGLISH

    base = TransformersGenerator()
    section = cut_to_tokens(source, base, PROMPT_TOKENS)
    prompt = ENGLISH.gist.format(text=cut_to_tokens(source, base, 400))
    options: list[tuple[str, Any]] = [("default (2 threads, SDPA, float32)", base)]
    options.append(("1 thread", "threads"))
    options.append(("eager attention", TransformersGenerator(attn_implementation="eager")))
    quantized = TransformersGenerator()
    quantized.model = torch.ao.quantization.quantize_dynamic(quantized.model, {torch.nn.Linear}, dtype=torch.qint8)
    options.append(("int8 dynamic linear layers", quantized))
    capability = torch.backends.cpu.get_cpu_capability()  # the widest vector set: AVX2, AVX512, ...
    bf16 = native_bf16()
    if bf16:
        options.append(("bfloat16", TransformersGenerator(dtype=torch.bfloat16)))
    rows, reference = [], None
    for name, generator in options:
        threads = torch.get_num_threads()
        if generator == "threads":
            generator = base
            torch.set_num_threads(1)
        try:
            prefill = best_seconds(lambda g=generator: g.prefill(section))
            ids = generator.encode(generator.render(prompt))
            t0 = time.perf_counter()
            out = generator.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                           min_new_tokens=DECODE_TOKENS,
                                           **generator.generation_kwargs(DECODE_TOKENS, 0.0))
            decode_s = time.perf_counter() - t0
            tokens = out[0, ids.shape[1]:].tolist()
        finally:
            torch.set_num_threads(threads)
        reference = reference or tokens
        rows.append({"backend": "transformers", "option": name,
                     "prefill_tokens_per_s": round(base.count_tokens(section) / prefill, 1),
                     "generate_64_s": round(decode_s, 2),
                     "same_greedy_tokens": tokens[:COMPARED_TOKENS] == reference[:COMPARED_TOKENS]})
    if not bf16:
        rows.append({"backend": "transformers", "option": "bfloat16", "skipped": f"no native bf16 here ({capability})"})
    return rows


def llamacpp_rows(source: str, work: Path) -> list[dict[str, Any]]:
    import llama_cpp

    from memorag_integrations.llm.llamacpp import LlamaCppGenerator
    from memorag_integrations.models import DEFAULT_LM, EMBEDDED
    from memorag_integrations.prompts import ENGLISH

    gguf = EMBEDDED[DEFAULT_LM].locate()
    requantized = {}
    for name, ftype in (("Q8_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0), ("F16", llama_cpp.LLAMA_FTYPE_MOSTLY_F16),
                        ("Q4_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0)):
        target = work / f"smollm2-{name}.gguf"
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize = ftype, True
        if llama_cpp.llama_model_quantize(str(gguf).encode(), str(target).encode(), ctypes.byref(params)) == 0:
            requantized[name] = target
    # Each option changes one setting of the packaged 4-bit file's run (the base row).
    q8_kv = {"type_k": llama_cpp.GGML_TYPE_Q8_0, "type_v": llama_cpp.GGML_TYPE_Q8_0}
    options: list[tuple[str, dict[str, Any]]] = [
        ("Q4_1 file as packaged (2 threads, flash attention, batch 512, f16 KV)", {}),
        ("1 thread", {"n_threads": 1}), ("flash attention off", {"flash_attn": False}),
        ("batch 2048", {"n_batch": 2048}), ("q8_0 KV cache", {"llama_kwargs": q8_kv}),
        *((f"{name} weights", {"model": str(path)}) for name, path in requantized.items())]
    rows, reference = [], None
    for name, kwargs in options:
        generator = LlamaCppGenerator(kwargs.pop("model", str(gguf)), weights="file", **kwargs)
        tokens = generator.tokenize(cut_to_tokens(source, generator, PROMPT_TOKENS))
        prefill = best_seconds(lambda g=generator, t=tokens: g.read_prefix(t, owner=None))
        prompt = generator.tokenize(generator.render(ENGLISH.gist.format(text=cut_to_tokens(source, generator, 400))))
        t0 = time.perf_counter()
        pieces = list(generator.continue_from(0, prompt, DECODE_TOKENS))
        decode_s = time.perf_counter() - t0
        out = generator.tokenize("".join(pieces))
        reference = reference or out
        rows.append({"backend": "llama.cpp", "option": name, "prefill_tokens_per_s": round(len(tokens) / prefill, 1),
                     "generate_64_s": round(decode_s, 2),
                     "same_greedy_tokens": out[:COMPARED_TOKENS] == reference[:COMPARED_TOKENS]})
        del generator
    return rows


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = ["# CPU inference options (embedded SmolLM2-135M)", "",
             f"{env['cpus']} CPUs, {env['date']}; prefill: a {PROMPT_TOKENS}-token prompt (best of two); "
             f"generate: a gist prompt and {DECODE_TOKENS} greedy tokens; same: the first {COMPARED_TOKENS} greedy "
             "tokens equal the backend's default.", "",
             "| backend | option | prefill tok/s | against default | generate 64 s | same greedy tokens |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    defaults = {}
    for row in result["rows"]:
        if "skipped" in row:
            lines.append(f"| {row['backend']} | {row['option']} | – | – | – | {row['skipped']} |")
            continue
        base = defaults.setdefault(row["backend"], row["prefill_tokens_per_s"])
        lines.append(f"| {row['backend']} | {row['option']} | {row['prefill_tokens_per_s']:.0f} "
                     f"| {row['prefill_tokens_per_s'] / base:.2f}× | {row['generate_64_s']:.2f} "
                     f"| {'yes' if row['same_greedy_tokens'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    source = text()
    rows = transformers_rows(source)
    try:
        with tempfile.TemporaryDirectory(prefix="memorag-cpu-options-") as work:
            rows += llamacpp_rows(source, Path(work))
    except ImportError:
        pass  # llama.cpp not installed: transformers only
    result = {"rows": rows, "environment": environment()}
    report.save_figures(result, markdown(result), args.out, "cpu-options")


if __name__ == "__main__":
    main()
