"""When the reranker's scores go through ONNX Runtime, and that an export is whole or absent."""

import pytest
import torch

from memorag_integrations.errors import InvalidInputError, MissingDependencyError
from memorag_integrations.llm import onnx_scoring, transformers as tf
from memorag_integrations.llm.onnx_scoring import OnnxScorer


class Model(torch.nn.Module):
    dtype = torch.float32

    class config:  # noqa: N801 (the attribute transformers models carry)
        @staticmethod
        def to_json_string():
            return "{}"


def test_auto_scores_through_onnx_only_for_a_float32_model_on_a_cpu(monkeypatch):
    monkeypatch.setattr(tf, "onnx_available", lambda: True)
    monkeypatch.setattr(onnx_scoring, "onnx_available", lambda: True)
    assert isinstance(tf.onnx_scorer("auto", Model(), "m", device="cpu", exact=True), OnnxScorer)
    assert tf.onnx_scorer("auto", Model(), "m", device="cuda", exact=True) is None
    assert tf.onnx_scorer("auto", Model(), "m", device="cpu", exact=False) is None  # int8 layers stay in torch
    assert tf.onnx_scorer("torch", Model(), "m", device="cpu", exact=True) is None
    with pytest.raises(InvalidInputError, match="scoring='onnx' runs a float32 model on a CPU"):
        tf.onnx_scorer("onnx", Model(), "m", device="cuda", exact=True)
    with pytest.raises(InvalidInputError, match="scoring must be one of auto, onnx, torch"):
        tf.onnx_scorer("fast", Model(), "m", device="cpu", exact=True)
    monkeypatch.setattr(tf, "onnx_available", lambda: False)
    assert tf.onnx_scorer("auto", Model(), "m", device="cpu", exact=True) is None


def test_asking_for_onnx_without_the_extra_says_what_to_install(monkeypatch):
    monkeypatch.setattr(onnx_scoring, "onnx_available", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"memorag-integrations\[onnx\]"):
        OnnxScorer(Model(), "m")


def test_an_interrupted_export_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setattr(onnx_scoring, "onnx_available", lambda: True)

    def fail(module, args, path, **options):
        with open(path, "wb") as out:
            out.write(b"half a graph")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.onnx, "export", fail)
    scorer = OnnxScorer(Model(), "org/model", folder=tmp_path)
    assert scorer.path.parent == tmp_path and scorer.path.name.startswith("org_model-")
    with pytest.raises(KeyboardInterrupt):
        scorer.session()
    assert list(tmp_path.iterdir()) == []
