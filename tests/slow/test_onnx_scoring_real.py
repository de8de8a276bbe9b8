"""The embedded model's scores through ONNX Runtime against torch's, on real passages."""

import numpy as np
import pytest

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


def test_onnx_reads_rows_one_at_a_time_with_the_scores_of_padded_batches(reference_text):
    fast = TransformersGenerator(scoring="onnx")
    prompts = [p for p in reference_text.split("\n\n") if len(p.split()) > 20][:5]
    calls = []
    score = fast.scorer.score
    fast.scorer.score = lambda ids, *rest: calls.append(ids.shape) or score(ids, *rest)
    alone = fast.continuation_logprobs(prompts, "How do I leave a loop early?")
    assert [shape[0] for shape in calls] == [1] * len(prompts)  # unpadded rows: faster on a CPU
    padded = fast.continuation_logprobs(prompts, "How do I leave a loop early?", batch_size=5)
    assert calls[-1][0] == 5 and max(abs(a - b) for a, b in zip(alone, padded)) < 1e-3


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
