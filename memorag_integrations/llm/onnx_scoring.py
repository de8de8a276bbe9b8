"""Scoring text through ONNX Runtime: the same float32 model, read about 1.4x faster on a CPU.

The reranker reads ten passages per query: the largest part of a query's time on a CPU. ONNX
Runtime runs the model's forward pass with fused kernels; the scores are the float32 model's own
(equal to about 1e-5). The model is exported once, on the first score, to the user's cache
(``models.cache_dir() / "onnx"``, about the size of the weights) and read from there afterwards.
Install the ``onnx`` extra (``onnxruntime`` and ``onnx``) to use it.
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

from memorag_integrations.errors import MissingDependencyError
from memorag_integrations.models import cache_dir

logger = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "position_ids", "target_ids")


def onnx_available() -> bool:
    """Whether ONNX Runtime and the exporter's ``onnx`` package are installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


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
    """Summed log-probabilities of a target after each row of token ids, by ONNX Runtime over an
    export of ``model`` (a transformers causal LM in float32 on a CPU) named ``identity``."""

    def __init__(self, model: Any, identity: str, *, folder: Path | None = None, threads: int | None = None) -> None:
        if not onnx_available():
            raise MissingDependencyError("scoring through ONNX Runtime needs the 'onnx' extra: pip install "
                                         "'memorag-integrations[onnx]'")
        self.model, self.identity = model, identity
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
        """The ONNX Runtime session, exporting the model first if its file is not cached yet."""
        with self._lock:
            if self._session is None:
                import onnxruntime

                if not self.path.is_file():
                    self._export()
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self.threads
                self._session = onnxruntime.InferenceSession(str(self.path), options,
                                                             providers=["CPUExecutionProvider"])
            return self._session

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
        return [float(v) for v in self.session().run(None, feed)[0]]
