"""GPU feature detection and selection, tested on a CPU machine.

No GPU is available here, so the detection functions are monkeypatched to describe a CUDA machine
and the choices made from them are checked; the real CPU paths are checked unpatched.
"""

import numpy as np
import pytest
import torch

from memorag_integrations import models
from memorag_integrations.errors import InvalidInputError, MissingDependencyError
from memorag_integrations.retrieval import index as index_module
from memorag_integrations.retrieval.index import FaissIndex


@pytest.fixture
def cuda_machine(monkeypatch):
    """A CUDA machine with bf16 support, with or without flash-attn (set ``installed``)."""
    installed: set[str] = set()
    monkeypatch.setattr(models, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(models, "package_available", lambda name: name in installed)
    return installed


def test_cpu_keeps_checkpoint_dtype_and_uses_sdpa():
    kwargs = models.model_load_kwargs("cpu")
    assert kwargs == {"trust_remote_code": False, "attn_implementation": "sdpa"}
    assert models.auto_batch_size("cpu", bytes_per_item=10**9) == 4


def test_cuda_picks_bf16_and_flash_attention_only_when_installed(cuda_machine):
    kwargs = models.model_load_kwargs("cuda")
    assert kwargs["dtype"] is torch.bfloat16 and kwargs["attn_implementation"] == "sdpa"
    cuda_machine.add("flash_attn")
    assert models.model_load_kwargs("cuda")["attn_implementation"] == "flash_attention_2"
    # flash-attn runs half precision only: a float32 request gets SDPA.
    assert models.model_load_kwargs("cuda", dtype="float32")["attn_implementation"] == "sdpa"
    # The user's own choices win.
    assert models.model_load_kwargs("cuda", attn_implementation="eager")["attn_implementation"] == "eager"
    assert models.model_load_kwargs("cuda", extra={"dtype": torch.float16})["dtype"] is torch.float16


def test_cuda_without_bf16_uses_float16(cuda_machine, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert models.pick_dtype("cuda") is torch.float16


def test_four_bit_only_when_asked(cuda_machine, monkeypatch):
    # Never forced by the model name: nothing quantizes unless load_in_4bit=True.
    assert "quantization_config" not in models.model_load_kwargs("cuda")
    import memorag_integrations.errors as errors

    monkeypatch.setattr(errors, "require", lambda *a, **k: None)
    kwargs = models.model_load_kwargs("cuda:1", load_in_4bit=True)
    quant = kwargs["quantization_config"]
    assert quant.load_in_4bit and quant.bnb_4bit_quant_type == "nf4"
    assert quant.bnb_4bit_compute_dtype is torch.bfloat16
    assert kwargs["device_map"] == {"": "cuda:1"}  # quantized weights are placed while loading


def test_four_bit_errors_are_clear_on_cpu(monkeypatch):
    import memorag_integrations.errors as errors

    if not models.package_available("bitsandbytes"):
        with pytest.raises(MissingDependencyError, match=r"memorag-integrations\[gpu\]"):
            models.model_load_kwargs("cpu", load_in_4bit=True)
    monkeypatch.setattr(errors, "require", lambda *a, **k: None)
    with pytest.raises(InvalidInputError, match="needs a CUDA GPU"):
        models.model_load_kwargs("cpu", load_in_4bit=True)


def test_batch_size_follows_free_gpu_memory(cuda_machine, monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (8 * 2**30, 80 * 2**30))
    assert models.auto_batch_size("cuda", bytes_per_item=2**30) == 4  # half of 8 GiB, 1 GiB each
    assert models.auto_batch_size("cuda", bytes_per_item=2**20) == 64  # capped
    assert models.auto_batch_size("cuda", bytes_per_item=2**40) == 1  # never zero


def _unit(n, dim, seed):
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_faiss_stays_on_cpu_without_faiss_gpu(tmp_path):
    index = FaissIndex(16)
    assert not index.on_gpu and index_module.gpu_count() == 0
    vectors = _unit(50, 16, 0)
    index.add(vectors)
    scores, ids = index.search(vectors[:3], 1)
    assert ids[:, 0].tolist() == [0, 1, 2] and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    index.save(tmp_path / "i.faiss")
    assert FaissIndex.load(tmp_path / "i.faiss").search(vectors[:3], 1)[1].tolist() == ids.tolist()
    with pytest.raises(MissingDependencyError, match="faiss-gpu"):
        FaissIndex(16, use_gpu=True)


def test_faiss_moves_to_gpu_when_present_and_saves_a_cpu_copy(monkeypatch, tmp_path):
    import faiss

    moved, copied = [], []
    monkeypatch.setattr(index_module, "gpu_count", lambda: 2)
    # Stand-ins for the two faiss-gpu calls (identity on the data, so the search stays real).
    monkeypatch.setattr(faiss, "index_cpu_to_all_gpus", lambda idx: moved.append(idx) or idx, raising=False)
    monkeypatch.setattr(faiss, "index_gpu_to_cpu", lambda idx: copied.append(idx) or idx, raising=False)
    index = FaissIndex(8)
    assert index.on_gpu and len(moved) == 1
    assert not FaissIndex(8, use_gpu=False).on_gpu and len(moved) == 1
    index.add(_unit(5, 8, 1))
    index.save(tmp_path / "g.faiss")
    assert len(copied) == 1
    loaded = FaissIndex.load(tmp_path / "g.faiss")
    assert loaded.on_gpu and len(loaded) == 5 and len(moved) == 2


@pytest.mark.slow
def test_cpu_generator_loads_with_detected_settings():
    from memorag_integrations.llm.transformers import TransformersGenerator

    lm = TransformersGenerator()
    assert lm.device == "cpu" and lm.model.config._attn_implementation == "sdpa"
    assert lm.model.dtype == torch.float32  # the checkpoint's dtype, untouched on a CPU
    assert lm.suggest_batch_size(1600) == 4
    # KV bytes: 2 (k, v) x 30 layers x 3 kv heads x 64 dims x 4 bytes for SmolLM2-135M.
    assert lm.kv_bytes_per_token() == 2 * 30 * 3 * 64 * 4
    text = lm.generate("Name one primary colour.", 8)
    assert text and text == lm.generate_batch(["Name one primary colour."], 8)[0]


def test_int8_is_asked_for_and_runs_only_where_it_can():
    from memorag_integrations.llm.transformers import check_int8

    assert check_int8(False, device="cpu", quantized=False) is False
    assert check_int8(True, device="cpu", quantized=False) is True
    assert check_int8(False, device="cuda", quantized=True) is False
    with pytest.raises(InvalidInputError, match="int8 runs on a CPU"):
        check_int8(True, device="cuda", quantized=False)
    with pytest.raises(InvalidInputError, match="load_in_4bit"):
        check_int8(True, device="cpu", quantized=True)
    with pytest.raises(InvalidInputError, match="int8 must be True or False"):
        check_int8(None, device="cpu", quantized=False)


def test_the_int8_model_quantizes_its_blocks_and_keeps_its_output_head():
    from memorag_integrations.llm.transformers import TransformersGenerator

    fast, exact = TransformersGenerator(int8=True), TransformersGenerator()
    assert fast.int8 and not exact.int8
    quantized = torch.ao.nn.quantized.dynamic.Linear
    blocks = [m for m in fast.model.model.layers.modules() if isinstance(m, (torch.nn.Linear, quantized))]
    assert blocks and all(isinstance(m, quantized) for m in blocks)
    assert type(fast.model.get_output_embeddings()) is torch.nn.Linear
    assert not any(isinstance(m, quantized) for m in exact.model.modules())
    # Close to the exact model where it counts: which continuation is likelier.
    prompts = ["The capital of France is", "The largest ocean on Earth is"]
    for lm in (fast, exact):
        paris, pacific = lm.continuation_logprobs(prompts, " Paris")
        assert paris > pacific
