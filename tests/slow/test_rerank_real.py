"""The query-likelihood reranker with the embedded SmolLM2: its scores do not depend on how rows
are batched and padded, they prefer the passage that answers, and the engine and both adapters
carry them through."""

import pytest
import torch

from memorag_integrations import Document, MemoRAG
from memorag_integrations.llm.transformers import TransformersGenerator
from memorag_integrations.memory.kv import KVMemory
from memorag_integrations.retrieval.rerank import QueryLikelihoodReranker
from memorag_integrations.retrieval.retriever import DenseRetriever

pytestmark = pytest.mark.slow

QUERY = "Which river flows through the capital of Hungary?"
ANSWERS = "Budapest, the capital of Hungary, lies on both banks of the Danube, which divides Buda from Pest."
OTHERS = ["The recipe needs two cups of flour, a pinch of salt and warm water; knead for ten minutes.",
          "Hungary joined the European Union in 2004 together with nine other countries.",
          "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen."]


@pytest.fixture(scope="module")
def lm():
    return TransformersGenerator(scoring="torch")  # the exact path; the faster runtimes: test_onnx_scoring_real


def one_row(lm, prompt, continuation):
    """The log-probability of ``continuation`` after ``prompt``, one unpadded row, all logits."""
    head = lm.tokenizer(lm.render(prompt), add_special_tokens=False).input_ids
    tail = lm.tokenizer(continuation, add_special_tokens=False).input_ids
    ids = torch.tensor([head + tail])
    with torch.inference_mode():
        logp = torch.log_softmax(lm.model(input_ids=ids).logits[0].float(), dim=-1)
    return sum(float(logp[len(head) + i - 1, t]) for i, t in enumerate(tail))


def test_batched_padded_scores_equal_one_row_at_a_time(lm):
    prompts = [f"Passage:\n{t}\n\nWrite a question that this passage answers." for t in [ANSWERS, *OTHERS]]
    batched = lm.continuation_logprobs(prompts, QUERY, batch_size=3)  # rows of unequal length, padded
    alone = [one_row(lm, p, QUERY) for p in prompts]
    assert batched == pytest.approx(alone, abs=1e-3)
    assert lm.continuation_logprobs(prompts, "") == [0.0] * 4


def test_the_passage_that_answers_scores_highest(lm):
    scores = QueryLikelihoodReranker(lm).score(QUERY, [*OTHERS, ANSWERS])
    assert max(range(4), key=scores.__getitem__) == 3


def test_llamacpp_scores_like_transformers_and_leaves_the_memory_alone(lm):
    from memorag_integrations.llm.llamacpp import LlamaCppGenerator
    from memorag_integrations.memory.llamacpp import LlamaCppKVMemory

    cpp = LlamaCppGenerator(sequences=2)  # four prompts: two groups of two sequences
    memory = LlamaCppKVMemory(cpp)
    memory.memorize([Document(ANSWERS + " " + OTHERS[0], "notes")], progress=False)
    before = memory.generate("Which river is named in the text?", 12)
    texts = [*OTHERS, ANSWERS]
    ours = QueryLikelihoodReranker(cpp).score(QUERY, texts)
    theirs = QueryLikelihoodReranker(lm).score(QUERY, texts)
    # F16 weights in llama.cpp, the same weights de-quantised to float32 in transformers.
    assert ours == pytest.approx(theirs, abs=0.5)
    assert max(range(4), key=ours.__getitem__) == 3
    assert memory.generate("Which river is named in the text?", 12) == before  # its prefix is restored


def test_the_engine_reranks_with_its_own_model(lm):
    text = "\n\n".join([*OTHERS, ANSWERS] * 2)
    chunks = DenseRetriever(chunk_tokens=32, chunk_overlap=0)  # about a passage a chunk
    engine = MemoRAG(KVMemory(lm), chunks, rerank=6, k=2, progress=False).memorize([Document(text, "notes")])
    assert isinstance(engine.reranker, QueryLikelihoodReranker) and engine.reranker.generator is lm
    evidence = engine.retrieve(QUERY)
    assert "Danube" in evidence[0].text and evidence[0].rerank_score is not None
    assert evidence[0].rerank_score >= max(e.rerank_score for e in evidence)


def test_sentences_embedded_at_memorize_give_the_evidence_and_quotes_of_embedding_at_query(reference_text, tmp_path):
    engine = MemoRAG(KVMemory(), progress=False).memorize(reference_text)  # the defaults: 3 sentences a candidate
    questions = ["How do I leave a loop early?", "What does the with statement do?", "When is an else clause run?"]
    kept = [engine.answer(q) for q in questions]
    loaded = MemoRAG.load(engine.save(tmp_path / "corpus"), progress=False)
    assert len(loaded._sentence_vectors.kept(loaded._corpus_sentences())[0]) > 100
    assert [loaded.answer(q).text for q in questions] == [a.text for a in kept]
    engine._sentence_vectors.forget_kept()  # embedded when a query asks, as before
    for question, before in zip(questions, kept):
        again = engine.answer(question)
        assert again.text == before.text
        assert [e.chunk_id for e in again.evidence] == [e.chunk_id for e in before.evidence]


def test_scoring_after_the_kv_memory_equals_reading_the_memory_again(lm):
    from memorag_integrations.memory.prompt import PromptMemory

    documents = [Document(ANSWERS, "atlas"), Document(OTHERS[1], "eu")]
    kv, plain = KVMemory(lm), PromptMemory(lm)
    kv.memorize(documents, progress=False)
    plain.memorize(documents, progress=False)
    texts = ["It divides the city.", *OTHERS]
    prompts = [f"Passage:\n{t}\n\nWrite a question that this passage answers." for t in texts]
    after_cache = kv.continuation_logprobs(prompts, QUERY)  # rows of unequal length, padded after the prefix
    reread = plain.continuation_logprobs(prompts, QUERY)  # the whole memory prompt, row by row
    assert after_cache == pytest.approx(reread, abs=1e-3)
    # The memory is read: a passage that names neither the city nor the river gains by it.
    alone = lm.continuation_logprobs(prompts, QUERY)
    assert after_cache[0] > alone[0]
    before = kv.generate("Which river is named in the text?", 8)
    ranked = QueryLikelihoodReranker(lm, memory=kv).score(QUERY, texts)
    assert ranked == pytest.approx(after_cache, abs=1e-3)
    assert kv.generate("Which river is named in the text?", 8) == before  # the memory's cache is left as it was
