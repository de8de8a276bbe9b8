"""Memory of kind ``beacon``: MemoRAG's memory models, which compress what they read into beacons.

memorag-qwen2-7b-inst and memorag-mistral-7b-inst carry their own modelling code (beacon
attention) in their repositories, so loading them runs that code: only with
``trust_remote_code=True``. Such a model keeps its memory inside itself (``model.memory``): it is
exported once after reading, and restored before every query, because generating extends it.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.llm.base import Prompt, TextGenerator
from memorag_integrations.llm.transformers import TransformersGenerator
from memorag_integrations.memory.base import Memory

DEFAULT_BEACON_MODEL = "TommyChien/memorag-qwen2-7b-inst"
TENSOR_PREFIX = "beacon."


class BeaconGenerator(TextGenerator):
    """Plain generation with a beacon model: its memory is emptied first.

    The model holds per-sequence state, so every call on it (here and in :class:`BeaconMemory`)
    is serialized by one lock: a beacon model serves one query at a time.
    """

    def __init__(self, lm: TransformersGenerator) -> None:
        self.lm = lm
        self.identity = lm.identity
        self.context_window = lm.context_window
        self.lock = _model_lock(lm)

    def generate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 stop: Sequence[str] | None = None) -> str:
        with self.lock:
            self.lm.model.memory.reset()
            return self.lm.generate(prompt, max_new_tokens, temperature=temperature, stop=stop)

    def generate_batch(self, prompts: Sequence[Prompt], max_new_tokens: int = 256) -> list[str]:
        # One sequence at a time: the beacon memory is per sequence.
        return [self.generate(p, max_new_tokens) for p in prompts]

    def count_tokens(self, text: str) -> int:
        return self.lm.count_tokens(text)


class BeaconMemory(Memory):
    """The memory model reads the whole corpus once; its exported beacon memory is the state.

    ``model``: a hub id or local folder of a beacon memory model (loaded with remote code, so
    ``trust_remote_code=True`` is required), or a loaded :class:`TransformersGenerator` of one.
    ``beacon_ratio``: the compression ratio (tokens per beacon) the model is loaded with; None
    keeps the model's own setting. The other options are those of :class:`TransformersGenerator`.
    """

    kind = "beacon"
    compresses = False  # the model compresses what it reads into beacons itself

    def __init__(self, model: TransformersGenerator | str | os.PathLike = DEFAULT_BEACON_MODEL, *,
                 trust_remote_code: bool = False, beacon_ratio: int | None = None, device: str | None = None,
                 dtype: torch.dtype | str | None = None, device_map: str | dict | None = None,
                 load_in_4bit: bool = False, model_kwargs: dict | None = None) -> None:
        if isinstance(model, TransformersGenerator):
            lm = model
        else:
            if not trust_remote_code:
                raise InvalidInputError(
                    f"the beacon memory model {str(model)!r} runs Python code from its own repository "
                    "(beacon attention); read it, and pass trust_remote_code=True if you trust it")
            extra = dict(model_kwargs or {})
            if beacon_ratio is not None:
                extra["beacon_ratio"] = [int(beacon_ratio)]
            lm = TransformersGenerator(model, device=device, dtype=dtype, device_map=device_map,
                                       load_in_4bit=load_in_4bit, trust_remote_code=True, model_kwargs=extra)
        memory = getattr(lm.model, "memory", None)
        if not (callable(getattr(memory, "export", None)) and callable(getattr(memory, "reset", None))):
            raise InvalidInputError(f"{lm.identity!r} is not a beacon memory model (it has no model.memory with "
                                    "export() and reset()); use KVMemory for ordinary models")
        self.beacon = BeaconGenerator(lm)
        super().__init__(self.beacon)
        self.lm = lm
        ratio = getattr(lm.model.config, "beacon_ratio", None)
        self.beacon_ratio = int(ratio[0]) if isinstance(ratio, (list, tuple)) and len(ratio) == 1 else ratio
        self._state: dict[str, Any] | None = None

    @property
    def is_ready(self) -> bool:
        return self._state is not None

    def config(self) -> dict[str, Any]:
        return {**super().config(), "beacon_ratio": self.beacon_ratio}

    def memory_tokens(self) -> int:
        """The beacons' share of the window: the context compressed by the beacon ratio."""
        ratio = self.beacon_ratio if isinstance(self.beacon_ratio, int) else 1
        return super().memory_tokens() // max(1, ratio)

    def _read(self) -> None:
        ids = self.lm.encode(self._prefix_prompt(self.lm.render))
        model = self.lm.model
        with self.beacon.lock, torch.inference_mode():
            model.memory.reset()
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
            self._state = _copy(model.memory.export())

    def generate(self, instruction: str, max_new_tokens: int = 256) -> str:
        self._require_ready()
        ids = self.lm.encode(self.lm.render([{"role": "user", "content": instruction}]))
        model = self.lm.model
        with self.beacon.lock, torch.inference_mode():
            # Fresh containers every time: the model updates its memory lists in place.
            model.memory.reset(**_copy(self._state))
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 **self.lm.generation_kwargs(max_new_tokens, 0.0))
        return self.lm.decode(out[0, ids.shape[1]:])

    def _cache_state(self, meta: dict[str, Any]) -> dict[str, Any]:
        tensors: dict[str, torch.Tensor] = {}
        meta["beacon_state"] = flatten_state(self._state, TENSOR_PREFIX, tensors)
        return tensors

    def load_state(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        super().load_state(tensors, meta)
        if not any(name.startswith(TENSOR_PREFIX) for name in tensors):  # saved without it: read again
            self._read()
            return
        device = self.lm.device
        self._state = unflatten_state(meta["beacon_state"], {k: v.to(device) for k, v in tensors.items()})


# -- the exported memory as safetensors + JSON (no pickle) -----------------------------------------
def flatten_state(obj: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON skeleton of ``obj``; its tensors go into ``tensors`` under dotted path names.

    Containers are tagged (``{"dict"|"list"|"tuple": ...}``) so that :func:`unflatten_state`
    rebuilds the same types; tensors become ``{"tensor": name}``.
    """
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous().clone()  # clone: safetensors refuses shared storage
        return {"tensor": path}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError(f"the beacon memory has non-string keys at {path!r}; it cannot be saved")
        return {"dict": {k: flatten_state(v, f"{path}{k}.", tensors) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        items = [flatten_state(v, f"{path}{i}.", tensors) for i, v in enumerate(obj)]
        return {"tuple" if isinstance(obj, tuple) else "list": items}
    raise TypeError(f"the beacon memory holds a {type(obj).__name__} at {path!r}, which cannot be saved "
                    "without pickle; report the model's memory format")


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`flatten_state`."""
    if not isinstance(skeleton, dict):
        return skeleton
    ((tag, value),) = skeleton.items()
    if tag == "tensor":
        return tensors[value]
    if tag == "dict":
        return {k: unflatten_state(v, tensors) for k, v in value.items()}
    items = [unflatten_state(v, tensors) for v in value]
    return tuple(items) if tag == "tuple" else items


_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _model_lock(lm: TransformersGenerator) -> threading.RLock:
    """One lock per loaded model, however many memories share it."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(lm, threading.RLock())


def _copy(obj: Any) -> Any:
    """New containers around the same tensors (which the models replace, never modify in place)."""
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_copy(v) for v in obj)
    return obj
