"""The speed suite's measurements, on the real embedded model over a short real text."""


import pytest


from benchmarks import speed  # noqa: E402

pytestmark = pytest.mark.slow


def test_measure_reports_every_figure_for_the_transformers_backend(tmp_path, reference_text):
    name, generator, new_memory, _ = speed.backends()[0]
    assert name == "transformers"
    text = speed.cut_to_tokens(reference_text, generator, 300)
    assert 200 <= generator.count_tokens(text) <= 300
    row = speed.measure(name, generator, new_memory, text, ["What does break do?", "What is a for loop?"], tmp_path,
                        new_tokens=4, gains=True, unkept_queries=["What does continue do?"])
    assert row["document_tokens"] == generator.count_tokens(text) and row["memorize_tokens_per_s"] > 0
    # No clues, so the default save leaves out the KV cache: the loaded memory reads its text at its first call.
    assert {"manifest.json", "index.faiss", "chunks.jsonl", "sentences.safetensors"} <= set(row["saved_files_mb"])
    assert not row["kv_saved"] and row["scoring"] in ("openvino", "onnxruntime", "torch")
    assert "memory.safetensors" not in row["saved_files_mb"]
    assert row["kv_folder_kb_per_1k_tokens"] > 3 * row["folder_kb_per_1k_tokens"] > 0
    assert row["kv_folder_kb_per_1k_tokens"] > row["int8_folder_kb_per_1k_tokens"] > row["folder_kb_per_1k_tokens"]
    assert row["memory_first_call_s"] > 0 and row["load_s"] > 0 and row["peak_rss_mb"] > 100
    for key in ("latency_p50_s", "latency_p95_s", "uncached_p50_s"):
        assert set(row[key]) == {"expand", "retrieve", "generate", "total"}
        assert row[key]["total"] >= row[key]["retrieve"] > row[key]["expand"] >= 0  # no clues: nothing to expand
    assert row["clues"] is False and row["memory_gisting"] == "extract"  # the embedded model's defaults
    assert row["latency_p95_s"]["total"] >= row["latency_p50_s"]["total"]
    assert row["prefill_tokens_per_s"] > 0 and row["memorize_share_of_prefill"] > 0
    assert 0 < row["first_answer_token_p50_s"] < row["latency_p50_s"]["total"] + 5
    assert row["first_answer_token_unkept_p50_s"] > 0
    first = row["memory_first_token_s"]  # continuing the read memory beats reading it again
    assert first["memory_tokens"] > 200 and first["reread"] > first["cached"] > 0
    assert set(row["parallel"]) == {"gist_4_sections_alone_s", "gist_4_sections_batched_s",
                                    "expand_calls_alone_p50_s", "expand_one_call_p50_s"}
    assert all(v > 0 for v in row["parallel"].values())


def test_the_llamacpp_backend_keeps_its_kv_cache_and_is_timed_against_rereading(tmp_path, reference_text):
    pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (extra 'llamacpp')")
    found = {b.name: (b.generator, b.new_memory) for b in speed.backends()}
    generator, new_memory = found["llama.cpp"]
    assert new_memory().kind == "kv"
    text = speed.cut_to_tokens(reference_text, generator, 300)
    row = speed.measure("llama.cpp", generator, new_memory, text, ["What does break do?"], tmp_path, new_tokens=4)
    # The saved memory holds the KV bytes of the ~300-token prefix: far more than the text itself.
    assert row["saved_files_mb"]["memory.safetensors"] > 0.5
    assert set(row["uncached_p50_s"]) == {"expand", "retrieve", "generate", "total"}
    assert row["latency_p50_s"]["total"] > 0


def test_a_grown_document_reads_only_its_new_text(tmp_path, reference_text):
    """The speed suite's sizes share one gist cache per backend: the longer document, which starts
    with the shorter, gists only the sections after it, and its throughput counts only those tokens."""
    from memorag_integrations.memory.kv import KVMemory

    name, generator, _, _ = speed.backends()[0]
    small_memory = lambda: KVMemory(generator, max_memory_tokens=96, gist_chunk_tokens=128, gist_tokens=6,  # noqa: E731
                                    gisting="generate")  # the model's gists are the ones a cache keeps
    short = speed.cut_to_tokens(reference_text, generator, 300)
    long = speed.cut_to_tokens(reference_text, generator, 600)
    assert long.startswith(short) and len(long) > len(short)
    gists, query = tmp_path / "gists", ["What does break do?"]
    first = speed.measure(name, generator, small_memory, short, query, tmp_path / "a", gists=gists, new_tokens=2)
    assert first["gists_cached"] == 0 and first["memorize_new_tokens"] == first["document_tokens"]
    made = speed.count_gists(gists)
    assert made >= 2
    second = speed.measure(name, generator, small_memory, long, query, tmp_path / "b", gists=gists,
                           read_tokens=first["document_tokens"], new_tokens=2)
    assert second["gists_cached"] == made
    assert second["memorize_new_tokens"] == second["document_tokens"] - first["document_tokens"]
    # The short document's last section was cut at its end, so at most that one is gisted again.
    gisted_again = speed.count_gists(gists) - made
    long_sections = second["memory_gists"]
    assert long_sections - made <= gisted_again <= long_sections - made + 1
