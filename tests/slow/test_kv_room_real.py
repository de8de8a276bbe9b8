"""The in-place KV cache with the embedded SmolLM2: the greedy tokens transformers' own cache gives."""

import pytest
import torch

from memorag_integrations.llm.kv_room import RoomyLayer, concatenating_cache
from memorag_integrations.llm.transformers import TransformersGenerator
from memorag_integrations.prompts import ENGLISH

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lm():
    return TransformersGenerator()


def test_the_engine_caches_grow_in_place(lm):
    prefix = lm.prefill(lm.render("Remember this: the key is under the mat."))
    assert all(isinstance(layer, RoomyLayer) for layer in lm._new_cache(8, prefix, batch=2).layers)
    assert all(isinstance(layer, RoomyLayer) for layer in lm._new_cache(8).layers)


def test_continuing_a_memory_gives_the_tokens_of_transformers_own_cache(lm, reference_text):
    prefix = lm.prefill(lm.render(reference_text[:2500], generation_prompt=False))
    suffix = lm.render(ENGLISH.clue_spans.format(query="How do I leave a loop early?"))
    ours = lm.generate_from_prefix(prefix, suffix, 24)
    ids = torch.cat([prefix.input_ids, lm.encode(suffix)], dim=1)
    theirs = concatenating_cache(lm.model.config, list(zip(prefix.keys, prefix.values)))
    with torch.inference_mode():
        out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **lm._cache_kwarg(theirs),
                                **lm.generation_kwargs(24, 0.0))
    assert ours and ours == lm.decode(out[0, ids.shape[1]:])


def test_a_batch_over_the_memory_and_plain_prompts_are_unchanged(lm, reference_text):
    prefix = lm.prefill(lm.render(reference_text[:1500], generation_prompt=False))
    suffixes = [lm.render(ENGLISH.clue_spans.format(query="What does break do?")),
                lm.render(ENGLISH.memory_answer.format(query="What is a loop?"))]
    together = lm.generate_many_from_prefix(prefix, suffixes, [16, 16])
    alone = [lm.generate_from_prefix(prefix, s, 16) for s in suffixes]
    assert together == alone
    prompt = ENGLISH.gist.format(text=reference_text[:600])
    ids = lm.encode(lm.render(prompt))
    with torch.inference_mode():
        out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **lm.generation_kwargs(20, 0.0))
    assert lm.generate(prompt, 20) == lm.decode(out[0, ids.shape[1]:])  # transformers' default cache
    assert "".join(lm.stream(prompt, 20)).strip() == lm.generate(prompt, 20)
