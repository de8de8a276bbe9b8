"""The embedded model's scores through ONNX Runtime against torch's, on real passages."""

import numpy as np
import pytest
import torch

from memorag_integrations.llm.onnx_scoring import auto_runtime
from memorag_integrations.llm.transformers import TransformersGenerator
from memorag_integrations.retrieval.rerank import QueryLikelihoodReranker

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime", reason="needs the 'onnx' extra")


def test_onnx_scores_are_torchs_and_rank_passages_the_same(reference_text):
    exact, fast = TransformersGenerator(scoring="torch"), TransformersGenerator(scoring="onnx")
    assert exact.scorer is None and fast.scorer.runtime == "onnxruntime"
    passages = [p for p in reference_text.split("\n\n") if len(p.split()) > 30][:12]
    for query in ("How do I leave a loop early?", "What does the with statement do?"):
        a = QueryLikelihoodReranker(exact).score(query, passages)
        b = QueryLikelihoodReranker(fast).score(query, passages)
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-3
        assert sorted(range(len(a)), key=a.__getitem__) == sorted(range(len(b)), key=b.__getitem__)
    assert fast.scorer.path.is_file()  # exported once, read from the cache afterwards


def test_onnx_reads_the_shared_prefix_once_and_rows_one_at_a_time(reference_text):
    fast = TransformersGenerator(scoring="onnx")
    prompts = [p for p in reference_text.split("\n\n") if len(p.split()) > 20][:5]
    calls, reads = [], []
    session, prefix_state = fast.scorer.session(), fast.scorer.prefix_state
    fast.scorer.session = lambda: lambda feed: calls.append(feed) or session(feed)
    fast.scorer.prefix_state = lambda prefix: reads.append(len(prefix)) or prefix_state(prefix)
    alone = fast.continuation_logprobs(prompts, "How do I leave a loop early?")
    assert [feed["input_ids"].shape[0] for feed in calls] == [1] * len(prompts)  # unpadded rows: faster on a CPU
    # The chat template's system prompt and the instruction's opening, read once for all the rows.
    shared = reads[0]
    assert shared > 10 and all(feed["past.0"].shape[2] == shared for feed in calls)
    assert all(feed["attention_mask"].shape[1] == shared + feed["input_ids"].shape[1] for feed in calls)
    padded = fast.continuation_logprobs(prompts, "How do I leave a loop early?", batch_size=5)
    assert calls[-1]["input_ids"].shape[0] == 5 and max(abs(a - b) for a, b in zip(alone, padded)) < 1e-3
    exact = TransformersGenerator(scoring="torch").continuation_logprobs(prompts, "How do I leave a loop early?")
    assert max(abs(a - b) for a, b in zip(alone, exact)) < 1e-3


def test_rows_with_nothing_or_everything_in_common_score_as_torch_scores_them():
    fast, exact = TransformersGenerator(scoring="onnx"), TransformersGenerator(scoring="torch")
    for heads, tail in (([[5, 9], [6, 9]], [7, 8]),  # no shared first token: each row its own prefix
                        ([[5]], [6, 7]),  # one token before the target: no prefix at all
                        ([[5, 6, 7], [5, 6, 7]], [8])):  # equal rows: each keeps one token of its own
        ids = [torch.tensor([head + tail]) for head in heads]
        with torch.inference_mode():
            logp = [torch.log_softmax(exact.model(input_ids=i).logits[0].float(), dim=-1) for i in ids]
        expected = [sum(float(lp[len(head) + j - 1, t]) for j, t in enumerate(tail)) for head, lp in zip(heads, logp)]
        assert fast.scorer.score_rows(heads, tail) == pytest.approx(expected, abs=1e-3)


def test_openvino_reads_the_same_export_and_ranks_passages_nearly_as_torch(reference_text):
    pytest.importorskip("openvino", reason="needs the 'openvino' extra")
    exact, ov = TransformersGenerator(scoring="torch"), TransformersGenerator(scoring="openvino")
    assert ov.scorer.path == TransformersGenerator(scoring="onnx").scorer.path  # one export, two runtimes
    assert TransformersGenerator().scorer.runtime == auto_runtime()  # OpenVINO where bfloat16 is native
    passages = [p for p in reference_text.split("\n\n") if len(p.split()) > 30][:12]
    for query in ("How do I leave a loop early?", "What does the with statement do?"):
        a = QueryLikelihoodReranker(exact).score(query, passages)
        b = QueryLikelihoodReranker(ov).score(query, passages)
        # bfloat16 where the processor has it: close to float32, not equal; the best passage stays the best.
        assert max(abs(x - y) for x, y in zip(a, b)) < 2.0
        assert max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
        assert float(np.corrcoef(a, b)[0, 1]) > 0.99
    assert ov.scorer.batch_size == 5  # OpenVINO reads rows of similar length together, faster
