"""The llama.cpp KV memory and generator with the embedded GGUF (SmolLM2-135M-Instruct) on real text."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from memorag_integrations import Document, IncompatibleStoreError, MemoRAG
from memorag_integrations.memory.gist import GistCache

pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (extra 'llamacpp')")
pytestmark = pytest.mark.slow

QUESTIONS = ["How do I leave a loop early?", "What does assert do?"]
FAST = {"clue_tokens": 24, "answer_tokens": 24, "k": 3}


@pytest.fixture(scope="module")
def text(reference_text):
    return reference_text[:2500]  # a few hundred tokens: this runs on a busy 2-core machine


@pytest.fixture(scope="module")
def engine(text, tmp_path_factory):
    from memorag_integrations.memory.kv import kv_memory

    # One thread: on the shared 2-core test machine OpenMP threads mostly wait for each other.
    memory = kv_memory(backend="llamacpp", n_threads=1)
    memory.compressor.cache = GistCache(tmp_path_factory.mktemp("gists"))
    return MemoRAG(memory, progress=False, **FAST).memorize(Document(text, "langref"))


def _count_evals(monkeypatch, llm) -> list[int]:
    seen: list[int] = []
    original = llm.eval
    monkeypatch.setattr(llm, "eval", lambda tokens: (seen.append(len(tokens)), original(tokens))[1])
    return seen


def test_reads_once_then_only_each_query(engine, monkeypatch):
    memory = engine.memory
    assert memory.config()["backend"] == "llamacpp" and memory.lm.llm.n_threads == 1
    n_prefix = len(memory._tokens)
    assert n_prefix > 300 and memory.lm.llm.n_ctx() >= n_prefix + 1024
    first = memory.generate(QUESTIONS[0], 16)
    evals = _count_evals(monkeypatch, memory.lm.llm)
    engine.generator.generate("Name a primary colour.", 8)  # the answer step overwrites the shared context
    again = memory.generate(QUESTIONS[0], 16)
    assert again == first
    # The prefix came back from its bytes: the query evaluated its own tokens (and the generated
    # ones, one at a time), never the memory again.
    assert max(evals) < n_prefix


def test_queries_do_not_mutate_the_memory(engine):
    first = [engine.expand(q) for q in QUESTIONS]
    second = [engine.expand(q) for q in reversed(QUESTIONS)][::-1]
    assert first == second and any(c.queries() for c in first)
    assert "".join(engine.memory.stream(QUESTIONS[1], 16)).strip() == engine.memory.generate(QUESTIONS[1], 16)


def test_concurrent_queries_are_serialized_and_match(engine):
    queries = [QUESTIONS[0], QUESTIONS[1], QUESTIONS[0]]
    sequential = [engine.memory.generate(q, 12) for q in queries]
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(lambda q: engine.memory.generate(q, 12), queries)) == sequential


def test_answer_and_stream(engine, text):
    answer = engine.answer(QUESTIONS[0])
    assert answer.text and answer.evidence
    assert all(text[e.char_span[0]:e.char_span[1]] == e.text for e in answer.evidence)
    assert "".join(engine.stream(QUESTIONS[0])).strip() == answer.text


def test_saved_state_is_kv_bytes_and_ids_and_loads_back(engine, tmp_path):
    from safetensors import safe_open

    before = engine.expand(QUESTIONS[1])
    folder = engine.save(tmp_path / "corpus", include_kv=True)  # the embedded model's default leaves it out
    with safe_open(str(folder / "memory.safetensors"), "np") as fh:
        kv, ids = fh.get_tensor("kv_state"), fh.get_tensor("input_ids")
    assert str(kv.dtype) == "uint8" and str(ids.dtype) == "int32" and len(ids) == len(engine.memory._tokens)
    # The KV bytes only: SmolLM2 keeps 30 layers x 2 x 192 f16 values = 23 KB per token, while a
    # pickled LlamaState would also carry a 512 x 49152 float logits buffer (100 MB).
    assert kv.nbytes < len(ids) * 30 * 2 * 192 * 2 * 1.2 and (folder / "memory.safetensors").stat().st_size < 50e6
    for path in folder.iterdir():
        assert not path.read_bytes().startswith(b"\x80"), f"{path.name} looks like a pickle"

    rebuilt = MemoRAG.load(folder, progress=False, **FAST)  # from the manifest alone: llama.cpp again
    assert type(rebuilt.memory).__name__ == "LlamaCppKVMemory" and rebuilt.memory.generate(QUESTIONS[1], 4)

    from memorag_integrations.memory.llamacpp import LlamaCppKVMemory

    # Identical answers need identical settings: llama.cpp's sums can differ with the thread count.
    same = LlamaCppKVMemory(n_threads=1)
    assert MemoRAG.load(folder, memory=same, progress=False, **FAST).expand(QUESTIONS[1]) == before

    from memorag_integrations.memory.kv import KVMemory

    with pytest.raises(IncompatibleStoreError, match="backend"):
        MemoRAG.load(folder, memory=KVMemory(), progress=False)

    light = engine.save(tmp_path / "light", include_kv=False)
    assert MemoRAG.load(light, memory=same, progress=False, **FAST).expand(QUESTIONS[1]) == before
