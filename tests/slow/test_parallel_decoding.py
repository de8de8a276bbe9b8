"""Several sequences decoded at once with the embedded SmolLM2: batched gisting on llama.cpp and the
memory's clue calls as one call over the shared prefix, on llama.cpp and transformers."""

import numpy as np
import pytest

from memorag_integrations import Document, InvalidInputError
from memorag_integrations.memory.gist import GistCache
from memorag_integrations.prompts import ENGLISH

pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (extra 'llamacpp')")
pytestmark = pytest.mark.slow

QUERY = "How do I leave a loop early?"


def similar(a: str, b: str, share: float = 0.4) -> bool:
    """Mostly the same words: what the tolerance of llama.cpp's batched sums leaves of greedy text."""
    shared = set(a.lower().split()) & set(b.lower().split())
    return bool(a) and len(shared) >= share * min(len(set(a.lower().split())), len(set(b.lower().split())))


def calls(query: str = QUERY) -> list[tuple[str, int]]:
    return [(ENGLISH.clue_spans.format(query=query), 24), (ENGLISH.surrogate_questions.format(query=query), 24),
            (ENGLISH.memory_answer.format(query=query), 12)]


@pytest.fixture(scope="module")
def cpp():
    from memorag_integrations.llm.llamacpp import LlamaCppGenerator

    return LlamaCppGenerator(n_threads=1, sequences=4)


@pytest.fixture(scope="module")
def gist_prompts(reference_text):
    return [ENGLISH.gist.format(text=reference_text[i * 700:(i + 1) * 700]) for i in range(3)]


def test_one_sequence_decodes_as_generate_does(cpp, gist_prompts):
    """The parallel decoder's own greedy sampling (repetition penalty included) is llama.cpp's."""
    from memorag_integrations.llm.llamacpp_parallel import decode_parallel

    for prompt in gist_prompts[:2]:
        tokens = decode_parallel(cpp.llm, [cpp.tokenize(cpp.render(prompt))], [20], penalty=cpp.repetition_penalty)[0]
        assert cpp.llm.detokenize(tokens).decode("utf-8", "replace").strip() == cpp.generate(prompt, 20)


def test_sequences_read_together_agree_with_each_read_alone(cpp, gist_prompts):
    """The tolerance: a prompt read beside others sits in other cache cells, which changes the
    order of floating-point sums (f16 cache, 8-bit activations) and nothing else; its next-token
    logits stay within 2 of those it gets alone (their range is about 30) and rank the vocabulary
    alike."""
    import llama_cpp

    from memorag_integrations.llm.llamacpp_parallel import _forget_after, _read

    llm = cpp.llm
    prompts = [cpp.tokenize(cpp.render(p)) for p in gist_prompts]
    batch = llama_cpp.llama_batch_init(llm.n_batch, 0, 1)
    try:
        alone = []
        for p in prompts:
            _forget_after(llm, 0, 4)
            alone.append(_read(llm, batch, [(0, p, 0)], want_logits=True)[0])
        _forget_after(llm, 0, 4)
        together = _read(llm, batch, [(s, p, 0) for s, p in enumerate(prompts)], want_logits=True)
    finally:
        llama_cpp.llama_batch_free(batch)
        _forget_after(llm, 0, 4)
        llm.n_tokens = 0
    for s in range(len(prompts)):
        assert np.abs(together[s] - alone[s]).max() < 2.0
        assert np.corrcoef(together[s], alone[s])[0, 1] > 0.999


def test_generate_batch_gists_every_prompt(cpp, gist_prompts):
    together = cpp.generate_batch(gist_prompts, 24)
    alone = [cpp.generate(p, 24) for p in gist_prompts]
    assert len(together) == 3 and all(together)
    assert all(similar(t, a) for t, a in zip(together, alone))  # the same passage condensed


def test_groups_follow_the_cache_size(cpp, gist_prompts, monkeypatch):
    from memorag_integrations.llm import llamacpp as module

    sizes: list[int] = []
    original = module.decode_parallel
    monkeypatch.setattr(module, "decode_parallel", lambda llm, prompts, *a, **kw: (sizes.append(len(prompts)),
                                                                                  original(llm, prompts, *a, **kw))[1])
    monkeypatch.setattr(cpp, "sequences", 2)
    assert len(cpp.generate_batch(gist_prompts, 4)) == 3
    assert sizes == [2, 1]
    with pytest.raises(InvalidInputError, match="exceed the llama.cpp context"):
        cpp.generate_batch(["word " * 9000], 4)


def test_sequences_must_be_positive():
    from memorag_integrations.llm.llamacpp import LlamaCppGenerator

    with pytest.raises(InvalidInputError, match="sequences"):
        LlamaCppGenerator(sequences=0)


@pytest.fixture(scope="module", params=["llamacpp", "transformers"])
def memory(request, cpp, reference_text, tmp_path_factory):
    from memorag_integrations.memory.kv import KVMemory
    from memorag_integrations.memory.llamacpp import LlamaCppKVMemory

    memory = LlamaCppKVMemory(cpp) if request.param == "llamacpp" else KVMemory()
    memory.compressor.cache = GistCache(tmp_path_factory.mktemp("gists"))
    memory.memorize([Document(reference_text[:3000], "langref")], progress=False)
    return memory


def test_memory_calls_decode_together_as_they_would_alone(memory, monkeypatch):
    one_by_one = [memory.generate(instruction, n) for instruction, n in calls()]
    seen: list[str] = []
    original = type(memory).generate
    monkeypatch.setattr(type(memory), "generate",
                        lambda self, *a, **kw: (seen.append(a[0]), original(self, *a, **kw))[1])
    together = memory.generate_many(calls())
    assert seen == []  # one call, not three
    if memory.lm.__class__.__name__ == "TransformersGenerator":  # float32 throughout: the same tokens
        assert together == one_by_one
    else:  # within the tolerance tested above
        assert all(similar(t, o) for t, o in zip(together, one_by_one))
    monkeypatch.undo()
    assert memory.generate(*calls()[0]) == one_by_one[0]  # the memory prefix is untouched


def test_async_memory_calls_are_the_same(memory):
    import asyncio

    assert asyncio.run(memory.agenerate_many(calls())) == memory.generate_many(calls())
