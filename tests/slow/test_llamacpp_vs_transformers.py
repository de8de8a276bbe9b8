"""The llama.cpp and transformers backends on the same GGUF (the embedded SmolLM2) behave the same.

Bit-equal outputs are not expected: llama.cpp computes with the Q4_1 weights as stored (and
quantized activations), transformers with the de-quantised float32 weights, so greedy decoding can
part ways after a few tokens. What must hold is that both see the same prompt (template and token
ids), that the model's next-token preferences agree, and that the pipeline retrieves the same
evidence for a question.
"""

import numpy as np
import pytest

from memorag_integrations import Document, MemoRAG
from memorag_integrations.memory.gist import GistCache

pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (extra 'llamacpp')")
pytestmark = pytest.mark.slow

QUESTION = "How do I leave a loop early?"


@pytest.fixture(scope="module")
def engines(reference_text, tmp_path_factory):
    from memorag_integrations.memory.kv import kv_memory
    from memorag_integrations.retrieval.retriever import DenseRetriever

    text = reference_text[:2500]
    retriever = DenseRetriever()
    built = {}
    for backend in ("transformers", "llamacpp"):
        # One llama.cpp thread: on the shared 2-core test machine OpenMP threads mostly wait.
        memory = kv_memory(backend=backend, **({"n_threads": 1} if backend == "llamacpp" else {}))
        memory.compressor.cache = GistCache(tmp_path_factory.mktemp(f"gists-{backend}"))
        engine = MemoRAG(memory, retriever, progress=False, clue_tokens=24, answer_tokens=24, k=3)
        built[backend] = engine.memorize(Document(text, "langref"))
        retriever = DenseRetriever(retriever.embedder)  # each engine its own index, one embedder model
    return built


def test_same_prompt_and_token_ids(engines):
    tf, cpp = engines["transformers"].memory, engines["llamacpp"].memory
    assert tf._prefix_text == cpp._prefix_text
    assert tf._prefix.input_ids[0].tolist() == cpp._tokens.tolist()
    assert tf.lm.count_tokens(tf.context) == cpp.lm.count_tokens(cpp.context)


def _next_token_logits(engines) -> tuple[np.ndarray, np.ndarray]:
    import llama_cpp
    import torch

    tf, cpp = engines["transformers"].memory, engines["llamacpp"].memory
    prompt = tf.lm.render(QUESTION)
    with torch.inference_mode():
        ids = tf.lm.encode(prompt)
        tf_logits = tf.lm.model(input_ids=ids).logits[0, -1].float().numpy()
    llm = cpp.lm.llm
    with cpp.lm.lock:
        cpp.lm.read_prefix(cpp.lm.tokenize(prompt), owner=None)  # the memory's prefix is put back when used
        cpp_logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)).copy()
    return tf_logits, cpp_logits


def test_next_token_preferences_agree(engines):
    tf_logits, cpp_logits = _next_token_logits(engines)
    assert int(tf_logits.argmax()) == int(cpp_logits.argmax())
    top_tf, top_cpp = set(np.argsort(-tf_logits)[:10]), set(np.argsort(-cpp_logits)[:10])
    assert len(top_tf & top_cpp) >= 7
    assert np.corrcoef(tf_logits, cpp_logits)[0, 1] > 0.95


def test_memory_answers_and_evidence_agree(engines):
    answers = {b: e.memory.generate(QUESTION, 24) for b, e in engines.items()}
    # Both find the answer in memory, in overlapping words (the wording may differ, see above).
    assert all("break" in a for a in answers.values()), answers
    words = [set(a.lower().split()) for a in answers.values()]
    assert len(words[0] & words[1]) / len(words[0] | words[1]) >= 0.3, answers
    evidence = {b: e.retrieve(QUESTION, k=3) for b, e in engines.items()}
    assert evidence["transformers"][0].char_span == evidence["llamacpp"][0].char_span
    assert any("break" in ev.text for ev in evidence["llamacpp"])
