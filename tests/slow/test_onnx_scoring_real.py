"""The embedded model's scores through ONNX Runtime against torch's, on real passages."""

import pytest

from memorag_integrations.llm.transformers import TransformersGenerator
from memorag_integrations.retrieval.rerank import QueryLikelihoodReranker

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime", reason="needs the 'onnx' extra")


def test_onnx_scores_are_torchs_and_rank_passages_the_same(reference_text):
    exact, fast = TransformersGenerator(scoring="torch"), TransformersGenerator()
    assert exact.scorer is None and fast.scorer is not None  # auto: ONNX Runtime where it is installed
    passages = [p for p in reference_text.split("\n\n") if len(p.split()) > 30][:12]
    for query in ("How do I leave a loop early?", "What does the with statement do?"):
        a = QueryLikelihoodReranker(exact).score(query, passages)
        b = QueryLikelihoodReranker(fast).score(query, passages)
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-3
        assert sorted(range(len(a)), key=a.__getitem__) == sorted(range(len(b)), key=b.__getitem__)
    assert fast.scorer.path.is_file()  # exported once, read from the cache afterwards
