"""Scoring text through an ONNX export of the model: read faster on a CPU than torch reads it.

The reranker reads fifteen passages per query: the largest part of a query's time on a CPU. The
model is exported once, on the first score, to the user's cache (``models.cache_dir() / "onnx"``,
about the size of the weights) and read from there afterwards by one of two runtimes:

- ONNX Runtime (the ``onnx`` extra): the float32 model's own scores (equal to about 1e-5), about
  1.5x torch's speed;
- OpenVINO (the ``openvino`` extra), in bfloat16 where the processor computes it natively
  (AVX512-BF16 or AMX) and float32 elsewhere: bfloat16 reads faster and changes scores a little
  (``python -m benchmarks.scoring_speed`` measures both).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memorag_integrations.errors import InvalidInputError, MissingDependencyError
from memorag_integrations.models import cache_dir

logger = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "position_ids", "target_ids")
#: The runtimes that read the export, each with the packages it needs (the exporter needs ``onnx``).
RUNTIMES = {"onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "onnx")}
_EXTRA = {"onnxruntime": "onnx", "openvino": "openvino"}


def onnx_available(runtime: str = "onnxruntime") -> bool:
    """Whether ``runtime`` and the exporter's ``onnx`` package are installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in RUNTIMES[runtime])


class _TargetLogprobs(torch.nn.Module):
    """The model's forward pass cut to what a score needs: the summed log-probability of the
    ``target_ids`` that end every row (so no vocabulary-wide logits leave the graph)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, target_ids):  # noqa: D102
        hidden = self.model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                          position_ids=position_ids).last_hidden_state
        n = target_ids.shape[1]
        logits = self.model.get_output_embeddings()(hidden[:, -n - 1:-1, :]).float()
        picked = torch.log_softmax(logits, dim=-1).gather(-1, target_ids[..., None])
        return picked[..., 0].sum(dim=-1)


class OnnxScorer:
    """Summed log-probabilities of a target after each row of token ids, by ``runtime`` (one of
    :data:`RUNTIMES`) over an export of ``model`` (a transformers causal LM in float32 on a CPU)
    named ``identity``."""

    def __init__(self, model: Any, identity: str, *, runtime: str = "onnxruntime", folder: Path | None = None,
                 threads: int | None = None) -> None:
        if runtime not in RUNTIMES:
            raise InvalidInputError(f"runtime must be one of {', '.join(RUNTIMES)}; got {runtime!r}")
        if not onnx_available(runtime):
            raise MissingDependencyError(f"scoring through {runtime} needs the '{_EXTRA[runtime]}' extra: pip install "
                                         f"'memorag-integrations[{_EXTRA[runtime]}]'")
        self.model, self.identity, self.runtime = model, identity, runtime
        self.folder = folder or cache_dir() / "onnx"
        self.threads = threads or torch.get_num_threads()
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The export's file: one per model and per library versions that shape the graph."""
        import transformers

        key = f"{self.identity}|{torch.__version__}|{transformers.__version__}|{self.model.config.to_json_string()}"
        name = re.sub(r"[^\w.-]+", "_", self.identity)
        return self.folder / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.onnx"

    def session(self) -> Any:
        """A callable from the inputs by name to the scores, exporting the model first if its file
        is not cached yet."""
        with self._lock:
            if self._session is None:
                if not self.path.is_file():
                    self._export()
                self._session = self._openvino() if self.runtime == "openvino" else self._onnxruntime()
            return self._session

    def _onnxruntime(self) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        return lambda feed: session.run(None, feed)[0]

    def _openvino(self) -> Any:
        import openvino

        core = openvino.Core()
        precision = "bf16" if native_bf16(core) else "f32"
        compiled = core.compile_model(str(self.path), "CPU", {
            "INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY"})
        lock = threading.Lock()  # one infer request: OpenVINO's requests are not shared between threads

        def run(feed: dict[str, np.ndarray]) -> np.ndarray:
            with lock:
                return np.array(compiled(feed)[0])
        return run

    def _export(self) -> None:
        logger.info("exporting %s to ONNX for scoring (once; cached in %s)", self.identity, self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        ids = torch.tensor([[1, 2, 3, 4, 5, 6], [0, 0, 3, 4, 5, 6]])
        mask = (ids != 0).long()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        dynamic = {"input_ids": {0: "rows", 1: "tokens"}, "attention_mask": {0: "rows", 1: "tokens"},
                   "position_ids": {0: "rows", 1: "tokens"}, "target_ids": {0: "rows", 1: "targets"}}
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".onnx.tmp")
        os.close(fd)
        try:
            with warnings.catch_warnings():  # the exporter's notes on tracing are about its own choices
                warnings.simplefilter("ignore")
                torch.onnx.export(_TargetLogprobs(self.model).eval(), (ids, mask, positions, ids[:, -2:]), tmp,
                                  input_names=list(INPUTS), output_names=["score"], dynamic_axes=dynamic,
                                  opset_version=18, dynamo=False)
            os.replace(tmp, self.path)  # a whole file or none: an interrupted export is never read
        finally:
            Path(tmp).unlink(missing_ok=True)

    def score(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
              target_ids: torch.Tensor) -> list[float]:
        """One summed log-probability per row (the rows as :meth:`TransformersGenerator.continuation_logprobs`
        builds them: left-padded, each ending with ``target_ids``)."""
        feed = {name: np.ascontiguousarray(t.cpu().numpy().astype(np.int64))
                for name, t in zip(INPUTS, (input_ids, attention_mask, position_ids, target_ids))}
        return [float(v) for v in self.session()(feed)]


def auto_runtime() -> str | None:
    """The runtime ``scoring="auto"`` reads the export with: OpenVINO where the processor computes
    bfloat16 natively (about 1.5x ONNX Runtime on two cores, and no recall lost on MultiHop-RAG dev
    and held-out and contracts held-out: benchmarks/README.md, "OpenVINO in bfloat16"), else ONNX
    Runtime; None where neither is installed."""
    if onnx_available("openvino"):
        import openvino

        if native_bf16(openvino.Core()):
            return "openvino"
    return "onnxruntime" if onnx_available() else None


def native_bf16(core: Any) -> bool:
    """Whether OpenVINO computes bfloat16 natively on this CPU (elsewhere it would emulate it, slowly)."""
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
