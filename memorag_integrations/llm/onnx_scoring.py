"""Scoring text through an ONNX export of the model: read faster on a CPU than torch reads it.

The reranker reads fifteen passages per query: the largest part of a query's time on a CPU. The
model is exported once, on the first score, to the user's cache (``models.cache_dir() / "onnx"``,
about the size of the weights) and read from there afterwards by one of two runtimes:

- ONNX Runtime (the ``onnx`` extra): the float32 model's own scores (equal to about 1e-5), about
  1.6x torch's speed;
- OpenVINO (the ``openvino`` extra), in bfloat16 where the processor computes it natively
  (AVX512-BF16 or AMX) and float32 elsewhere: bfloat16 reads faster and changes scores a little
  (``python -m benchmarks.scoring_speed`` measures both).

The rows a reranker scores share their opening (the chat template's system prompt, "Passage:"):
the export takes that prefix as keys and values, read once, so each row reads only its own tokens.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from memorag_integrations.errors import InvalidInputError, MissingDependencyError
from memorag_integrations.llm.rows import kv_shape, left_padded
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
    ``target_ids`` that end every row (so no vocabulary-wide logits leave the graph), after a
    prefix the rows share, given as its keys and values per layer (``past``: one row, read once)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, target_ids, *past):  # noqa: D102
        from transformers import DynamicCache

        rows = input_ids.shape[0]
        cache = DynamicCache(ddp_cache_data=[(past[i].expand(rows, -1, -1, -1), past[i + 1].expand(rows, -1, -1, -1))
                                             for i in range(0, len(past), 2)], config=self.model.config)
        hidden = self.model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                          past_key_values=cache, use_cache=True).last_hidden_state
        n = target_ids.shape[1]
        logits = self.model.get_output_embeddings()(hidden[:, -n - 1:-1, :]).float()
        picked = torch.log_softmax(logits, dim=-1).gather(-1, target_ids[..., None])
        return picked[..., 0].sum(dim=-1)


class OnnxScorer:
    """Summed log-probabilities of a target after each row of token ids, by ``runtime`` (one of
    :data:`RUNTIMES`) over an export of ``model`` (a transformers causal LM in float32 on a CPU)
    named ``identity``.

    The rows continue a prefix they share (the chat template's system prompt and the instruction's
    opening: a fifth of a reranker row's tokens), read once by torch and kept for the next call with
    the same prefix; OpenVINO reads the rows in batches of :attr:`batch_size` of similar length."""

    #: Prefixes kept read: the reranker's rows share one per prompt language.
    PREFIXES_KEPT = 4
    #: How rows are read, for caches of bfloat16 scores (which change with it; float32's do not).
    READING = "prefixed-batches"

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
        # Rows per call: OpenVINO reads batches of similar length ~1.1x faster than rows one at a
        # time; ONNX Runtime reads unpadded rows one at a time faster (benchmarks/README.md).
        self.batch_size = 5 if runtime == "openvino" else 1
        self._session: Any = None
        self._lock = threading.Lock()
        self._prefixes: OrderedDict[tuple[int, ...], list[np.ndarray]] = OrderedDict()
        self._prefixes_lock = threading.Lock()  # apart from the session's: the export reads a prefix

    @property
    def path(self) -> Path:
        """The export's file: one per model and per library versions that shape the graph."""
        import transformers

        key = (f"{self.identity}|prefixed|{torch.__version__}|{transformers.__version__}|"
               f"{self.model.config.to_json_string()}")
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
        past = self.prefix_state([1, 2])
        ids = torch.tensor([[3, 4, 5, 6], [0, 0, 5, 6]])
        mask = torch.cat([torch.ones((2, 2), dtype=torch.long), (ids != 0).long()], dim=1)
        positions = (mask.cumsum(-1) - 1)[:, 2:]
        dynamic = {"input_ids": {0: "rows", 1: "tokens"}, "attention_mask": {0: "rows", 1: "prefix_and_tokens"},
                   "position_ids": {0: "rows", 1: "tokens"}, "target_ids": {0: "rows", 1: "targets"},
                   **{f"past.{i}": {2: "prefix"} for i in range(len(past))}}
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".onnx.tmp")
        os.close(fd)
        try:
            with warnings.catch_warnings():  # the exporter's notes on tracing are about its own choices
                warnings.simplefilter("ignore")
                torch.onnx.export(_TargetLogprobs(self.model).eval(),
                                  (ids, mask, positions, ids[:, -2:], *map(torch.from_numpy, past)), tmp,
                                  input_names=[*INPUTS, *(f"past.{i}" for i in range(len(past)))],
                                  output_names=["score"], dynamic_axes=dynamic, opset_version=18, dynamo=False)
            os.replace(tmp, self.path)  # a whole file or none: an interrupted export is never read
        finally:
            Path(tmp).unlink(missing_ok=True)
        # Exports of this model by older graphs or library versions: each is the size of the weights.
        for old in self.path.parent.glob(f"{self.path.name.rsplit('-', 1)[0]}-*.onnx"):
            if old != self.path and len(old.name) == len(self.path.name):
                old.unlink(missing_ok=True)

    @torch.inference_mode()
    def prefix_state(self, prefix: list[int]) -> list[np.ndarray]:
        """The keys and values of ``prefix`` (token ids, one row) per layer, read by torch in
        float32, as the export takes them; kept for the next rows that share it."""
        key = tuple(prefix)
        with self._prefixes_lock:
            if key in self._prefixes:
                self._prefixes.move_to_end(key)
                return self._prefixes[key]
        from transformers import DynamicCache

        if prefix:
            cache = DynamicCache(config=self.model.config)
            self.model(input_ids=torch.tensor([prefix]), past_key_values=cache, use_cache=True, logits_to_keep=1)
            layers: list[Any] = list(cache.layers)  # plain attention layers: each holds keys and values
            state = [np.ascontiguousarray(t.numpy()) for layer in layers for t in (layer.keys, layer.values)]
        else:  # a one-token row: no prefix, an empty cache
            depth, heads, dim = kv_shape(self.model.config)
            state = [np.zeros((1, heads, 0, dim), dtype=np.float32) for _ in range(2 * depth)]
        with self._prefixes_lock:
            self._prefixes[key] = state
            while len(self._prefixes) > self.PREFIXES_KEPT:
                self._prefixes.popitem(last=False)
        return state

    def score_rows(self, heads: list[list[int]], tail: list[int], *, batch_size: int | None = None) -> list[float]:
        """The summed log-probability of ``tail`` after each of ``heads`` (token ids). The tokens
        every head starts with are read once, as a prefix; the rest are read in batches of
        ``batch_size`` (default :attr:`batch_size`) rows of similar length, each left-padded after
        the prefix."""
        shared = _shared_length(heads)
        if shared == 0 and len(heads) > 1:  # no token in common: each row has its own prefix
            return [self.score_rows([head], tail)[0] for head in heads]
        past = self.prefix_state(heads[0][:shared])
        order = sorted(range(len(heads)), key=lambda i: len(heads[i]))
        scores = [0.0] * len(heads)
        size = batch_size or self.batch_size
        for start in range(0, len(order), size):
            group = order[start:start + size]
            padded = left_padded([heads[i][shared:] + tail for i in group], 0, prefix=shared)
            feed = {"input_ids": padded.ids, "attention_mask": padded.mask, "position_ids": padded.positions,
                    "target_ids": np.tile(np.asarray(tail, dtype=np.int64), (len(group), 1)),
                    **{f"past.{i}": state for i, state in enumerate(past)}}
            for i, value in zip(group, self.session()(feed)):
                scores[i] = float(value)
        return scores


def _shared_length(heads: list[list[int]]) -> int:
    """Tokens every head starts with, leaving each at least one of its own."""
    limit = min(len(h) for h in heads) - 1
    shared = 0
    while shared < limit and all(h[shared] == heads[0][shared] for h in heads):
        shared += 1
    return shared


def auto_runtime() -> str | None:
    """The runtime ``scoring="auto"`` reads the export with: OpenVINO where the processor computes
    bfloat16 natively (about 1.7x ONNX Runtime on two cores, and no interval of lost recall wholly
    below zero on MultiHop-RAG dev and held-out and contracts held-out: benchmarks/README.md, "The
    scorer reads the rows' shared prefix once"), else ONNX Runtime; None where neither is installed."""
    if onnx_available("openvino"):
        import openvino

        if native_bf16(openvino.Core()):
            return "openvino"
    return "onnxruntime" if onnx_available() else None


def native_bf16(core: Any) -> bool:
    """Whether OpenVINO computes bfloat16 natively on this CPU (elsewhere it would emulate it, slowly)."""
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
