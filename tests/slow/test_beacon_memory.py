"""Memory of kind ``beacon``.

The published memory models (memorag-qwen2-7b-inst, memorag-mistral-7b-inst) cannot be fetched
here, so the contract is tested with ``beacon_toy/modeling_toy_beacon.py``: the embedded SmolLM2
with the same memory interface (``model.memory.reset/export``), loaded as *remote code* from a
local folder exactly as the real models are, and mutating its memory on every generation as they
do. What these tests cannot show is the quality of the real beacon compression.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch

from memorag_integrations import Document, IncompatibleStoreError, InvalidInputError, MemoRAG
from memorag_integrations.memory.beacon import BeaconMemory, flatten_state, unflatten_state

TOY_CODE = Path(__file__).parents[1] / "support" / "beacon_toy" / "modeling_toy_beacon.py"
QUESTIONS = ["How do I leave a loop before it finishes?", "What does the assert statement do?"]
FAST = {"clue_tokens": 16, "answer_tokens": 16, "k": 3}


def make_toy_model(folder: Path, ratio: int = 2) -> Path:
    """A local remote-code model folder: the embedded SmolLM2 weights with the toy beacon class."""
    from memorag_integrations import models

    gguf = models.EMBEDDED[models.DEFAULT_LM].locate()
    weights = models.converted_gguf_dir(gguf.parent, gguf.name)
    folder.mkdir(parents=True)
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                 "generation_config.json"):
        (folder / name).symlink_to(weights / name)
    config = json.loads((weights / "config.json").read_text())
    config.update(architectures=["ToyBeaconForCausalLM"], beacon_ratio=[ratio],
                  auto_map={"AutoModelForCausalLM": "modeling_toy_beacon.ToyBeaconForCausalLM"})
    (folder / "config.json").write_text(json.dumps(config))
    shutil.copy(TOY_CODE, folder / TOY_CODE.name)
    return folder


def test_remote_code_needs_an_explicit_opt_in(tmp_path):
    with pytest.raises(InvalidInputError, match="trust_remote_code=True"):
        BeaconMemory(tmp_path / "any-model")
    with pytest.raises(InvalidInputError, match="trust_remote_code=True"):
        BeaconMemory()  # the published default, not fetched: the check comes first


def test_state_round_trips_through_safetensors_layout():
    state = {"activations": [(torch.ones(1, 2, 3, 4), torch.zeros(1, 2, 3, 4)), (None, None)],
             "all_input_ids": torch.arange(5)[None], "sizes": [3, 4], "step": 2, "mix": None, "flag": True}
    tensors: dict = {}
    skeleton = flatten_state(state, "beacon.", tensors)
    assert set(tensors) == {"beacon.activations.0.0.", "beacon.activations.0.1.", "beacon.all_input_ids."}
    back = unflatten_state(json.loads(json.dumps(skeleton)), tensors)
    assert isinstance(back["activations"][0], tuple) and back["activations"][1] == (None, None)
    assert torch.equal(back["activations"][0][0], state["activations"][0][0])
    assert {k: back[k] for k in ("sizes", "step", "mix", "flag")} == {"sizes": [3, 4], "step": 2, "mix": None,
                                                                       "flag": True}
    with pytest.raises(TypeError, match="without pickle"):
        flatten_state({"rng": object()}, "beacon.", {})


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory):
    return make_toy_model(tmp_path_factory.mktemp("models") / "toy-beacon")


@pytest.fixture(scope="module")
def engine(toy_folder, reference_text):
    memory = BeaconMemory(toy_folder, trust_remote_code=True, beacon_ratio=4)
    return MemoRAG(memory, progress=False, **FAST).memorize(Document(reference_text[:4000], "langref"))


@pytest.mark.slow
def test_reads_once_into_a_compressed_memory(engine):
    memory = engine.memory
    assert memory.lm.model.config.beacon_ratio == [4] and memory.beacon_ratio == 4
    assert memory.config() == {"kind": "beacon", "model": "path:toy-beacon", "beacon_ratio": 4}
    read = memory._state["all_input_ids"].shape[1]
    assert read > 800 and memory._state["activations"][0][0].shape[2] == read // 4 + read % 4  # 4 tokens a beacon


@pytest.mark.slow
def test_memory_is_restored_before_every_query(engine):
    memory, model = engine.memory, engine.memory.lm.model
    first = [memory.generate(q, 12) for q in QUESTIONS]
    assert model.memory.step_idx > memory._state["step_idx"]  # generating did extend the model's memory
    second = [memory.generate(q, 12) for q in reversed(QUESTIONS)][::-1]
    assert first == second and all(first)
    # Plain generation (the final answer) runs on an emptied memory.
    engine.memory.generate("Say hello.", 8)
    plain = engine.generator.generate("Name a primary colour.", 8)
    # It ran on an emptied memory: what it generated is all the model's memory holds now.
    assert model.memory.step_idx == 1 and plain
    engine.memory.generate("Say hello.", 8)
    assert engine.generator.generate("Name a primary colour.", 8) == plain


@pytest.mark.slow
def test_save_load_identical_and_checked(engine, toy_folder, tmp_path):
    before = engine.answer(QUESTIONS[0])
    folder = engine.save(tmp_path / "corpus")
    assert (folder / "memory.safetensors").is_file()
    for path in folder.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"
    with pytest.raises(IncompatibleStoreError, match="trust_remote_code=True"):
        MemoRAG.load(folder, progress=False)

    memory = BeaconMemory(engine.memory.lm)  # an already loaded model is reused as it is
    loaded = MemoRAG.load(folder, memory=memory, progress=False, **FAST)
    after = loaded.answer(QUESTIONS[0])
    assert after.text == before.text and after.clues == before.clues and after.evidence == before.evidence

    light = engine.save(tmp_path / "light", include_kv=False)
    assert not (light / "memory.safetensors").exists()
    assert MemoRAG.load(light, memory=memory, progress=False, **FAST).expand(QUESTIONS[0]) == before.clues


@pytest.mark.slow
def test_other_beacon_ratio_is_refused_on_load(engine, toy_folder, tmp_path):
    folder = engine.save(tmp_path / "corpus")
    other = BeaconMemory(toy_folder, trust_remote_code=True, beacon_ratio=2)
    with pytest.raises(IncompatibleStoreError, match="beacon_ratio"):
        MemoRAG.load(folder, memory=other, progress=False)


@pytest.mark.slow
def test_an_ordinary_model_is_not_a_beacon_model():
    from memorag_integrations.llm.transformers import TransformersGenerator

    with pytest.raises(InvalidInputError, match="not a beacon memory model"):
        BeaconMemory(TransformersGenerator())
