"""When the reranker's scores go through ONNX Runtime or OpenVINO, and that an export is whole or absent."""

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


def test_auto_scores_through_an_export_only_for_a_float32_model_on_a_cpu(monkeypatch):
    monkeypatch.setattr(onnx_scoring, "onnx_available", lambda runtime="onnxruntime": True)
    monkeypatch.setattr(tf, "auto_runtime", lambda: "onnxruntime")
    assert tf.onnx_scorer("auto", Model(), "m", device="cpu", exact=True).runtime == "onnxruntime"
    assert tf.onnx_scorer("openvino", Model(), "m", device="cpu", exact=True).runtime == "openvino"
    assert tf.onnx_scorer("onnx", Model(), "m", device="cpu", exact=True).runtime == "onnxruntime"
    assert tf.onnx_scorer("auto", Model(), "m", device="cuda", exact=True) is None
    assert tf.onnx_scorer("auto", Model(), "m", device="cpu", exact=False) is None  # int8 layers stay in torch
    assert tf.onnx_scorer("torch", Model(), "m", device="cpu", exact=True) is None
    with pytest.raises(InvalidInputError, match="scoring='onnx' runs a float32 model on a CPU"):
        tf.onnx_scorer("onnx", Model(), "m", device="cuda", exact=True)
    with pytest.raises(InvalidInputError, match="scoring='openvino' runs a float32 model on a CPU"):
        tf.onnx_scorer("openvino", Model(), "m", device="cpu", exact=False)
    with pytest.raises(InvalidInputError, match="scoring must be one of auto, onnx, openvino, torch"):
        tf.onnx_scorer("fast", Model(), "m", device="cpu", exact=True)
    monkeypatch.setattr(tf, "auto_runtime", lambda: None)  # neither runtime installed
    assert tf.onnx_scorer("auto", Model(), "m", device="cpu", exact=True) is None


class Core:
    def __init__(self, capabilities):
        self.capabilities = capabilities

    def get_property(self, device, name):
        assert (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES")
        return self.capabilities


@pytest.mark.parametrize(("installed", "capabilities", "chosen"), [
    ({"onnxruntime", "openvino"}, ["BF16", "FP32"], "openvino"),  # bfloat16 in the processor: OpenVINO
    ({"onnxruntime", "openvino"}, ["FP32", "INT8"], "onnxruntime"),  # emulated bfloat16 would be slower
    ({"openvino"}, ["FP32"], None),
    ({"onnxruntime"}, ["BF16"], "onnxruntime"),
    (set(), ["BF16"], None),
])
def test_auto_reads_with_openvino_only_where_the_processor_computes_bfloat16(monkeypatch, installed, capabilities,
                                                                              chosen):
    import sys
    import types

    monkeypatch.setattr(onnx_scoring, "onnx_available", lambda runtime="onnxruntime": runtime in installed)
    monkeypatch.setitem(sys.modules, "openvino", types.SimpleNamespace(Core=lambda: Core(capabilities)))
    assert onnx_scoring.auto_runtime() == chosen


def test_asking_for_a_runtime_without_its_extra_says_what_to_install(monkeypatch):
    monkeypatch.setattr(onnx_scoring, "onnx_available", lambda runtime="onnxruntime": False)
    with pytest.raises(MissingDependencyError, match=r"memorag-integrations\[onnx\]"):
        OnnxScorer(Model(), "m")
    with pytest.raises(MissingDependencyError, match=r"memorag-integrations\[openvino\]"):
        OnnxScorer(Model(), "m", runtime="openvino")
    with pytest.raises(InvalidInputError, match="runtime must be one of onnxruntime, openvino"):
        OnnxScorer(Model(), "m", runtime="tensorrt")


def test_an_interrupted_export_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setattr(onnx_scoring, "onnx_available", lambda runtime="onnxruntime": True)

    def fail(module, args, path, **options):
        with open(path, "wb") as out:
            out.write(b"half a graph")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.onnx, "export", fail)
    scorer = OnnxScorer(Model(), "org/model", folder=tmp_path)
    scorer.prefix_state = lambda prefix: [torch.zeros((1, 1, len(prefix), 2)).numpy()] * 2  # the example's past
    assert scorer.path.parent == tmp_path and scorer.path.name.startswith("org_model-")
    with pytest.raises(KeyboardInterrupt):
        scorer.session()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("heads, shared", [
    ([[1, 2, 3, 4], [1, 2, 3, 5, 6]], 3),
    ([[1, 2, 3], [1, 2, 3, 4]], 2),  # each row keeps a token of its own, before the target
    ([[1, 2], [3, 2]], 0),
    ([[7]], 0),
    ([[1, 2, 3]], 2),
])
def test_the_rows_prefix_is_what_every_row_starts_with_less_one_token(heads, shared):
    assert onnx_scoring._shared_length(heads) == shared


def test_a_new_export_replaces_the_models_older_ones(monkeypatch, tmp_path):
    monkeypatch.setattr(onnx_scoring, "onnx_available", lambda runtime="onnxruntime": True)
    monkeypatch.setattr(torch.onnx, "export", lambda module, args, path, **options: open(path, "wb").close())
    scorer = OnnxScorer(Model(), "org/model", folder=tmp_path)
    scorer.prefix_state = lambda prefix: [torch.zeros((1, 1, len(prefix), 2)).numpy()] * 2
    stale = tmp_path / "org_model-000000000000.onnx"
    other = tmp_path / "org_model-base-000000000000.onnx"  # another model whose name starts the same
    stale.write_bytes(b"old graph")
    other.write_bytes(b"another model")
    scorer._export()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([scorer.path.name, other.name])
