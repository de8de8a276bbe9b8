"""Local causal LMs through transformers: plain generation, batching, streaming, and KV prefixes."""

from __future__ import annotations

import inspect
import logging
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from memorag_integrations.errors import InvalidInputError
from memorag_integrations.llm.base import Prompt, TextGenerator, as_messages, cut_at_stop
from memorag_integrations.llm.onnx_scoring import OnnxScorer, auto_runtime
from memorag_integrations.llm.rows import PaddedRows, kv_shape, left_padded
from memorag_integrations.models import (auto_batch_size, check_device, converted_gguf_dir, model_load_kwargs,
                                         quiet_loading, resolve_lm)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KVPrefix:
    """The KV cache of a prompt prefix. Read-only: queries extend copies, never these tensors."""

    input_ids: torch.Tensor  # (1, n)
    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[1])


class TransformersGenerator(TextGenerator):
    """A local transformers causal LM.

    ``model`` is None (the embedded SmolLM2-135M-Instruct), a GGUF file, a local folder or a
    Hugging Face model id. GGUF files are de-quantised once and cached (see ``models.cache_dir``).

    GPU options are detected, never required: on CUDA the dtype defaults to bfloat16 (float16
    without bf16) and attention to FlashAttention-2 when flash-attn is installed (SDPA otherwise);
    ``device_map`` (e.g. ``"auto"``) spreads a large model over devices; ``load_in_4bit`` quantizes
    through bitsandbytes, only when asked. On a CPU the checkpoint's dtype and SDPA are kept.
    ``local_files_only`` never reaches the network: a hub id must be in the local cache.

    ``int8=True`` (CPU only) swaps the linear layers of the model's blocks for int8 dynamically
    quantized ones: about 1.65x the prefill on two cores, with other outputs than float32's. It is
    off by default: as the reranker's model it lost evidence on held-out MultiHop-RAG
    (benchmarks/README.md, "int8 on a CPU").

    ``scoring`` is how :meth:`continuation_logprobs` (the reranker's scores) runs the model:
    ``"onnx"`` through ONNX Runtime (CPU only, the ``onnx`` extra; the same scores about 1.5x
    faster), ``"openvino"`` through OpenVINO (CPU only, the ``openvino`` extra; bfloat16 where the
    processor computes it, other scores; see :mod:`~memorag_integrations.llm.onnx_scoring`),
    ``"torch"``, or ``"auto"`` (the default): for a float32 model on a CPU, OpenVINO where it is
    installed and the processor computes bfloat16, else ONNX Runtime where it is installed; torch
    otherwise.
    """

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        device: str | None = None,
        dtype: torch.dtype | str | None = None,
        device_map: str | dict | None = None,
        load_in_4bit: bool = False,
        attn_implementation: str | None = None,
        repetition_penalty: float = 1.1,
        trust_remote_code: bool = False,
        local_files_only: bool = False,
        model_kwargs: dict | None = None,
        int8: bool = False,
        scoring: str = "auto",
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        identity, location, gguf_file = resolve_lm(model)
        device = check_device(device) or ("cuda" if torch.cuda.is_available() else "cpu")
        if gguf_file is not None:
            location = converted_gguf_dir(Path(location), gguf_file)
        self.identity = identity
        kwargs = model_load_kwargs(device, dtype=dtype, device_map=device_map, load_in_4bit=load_in_4bit,
                                   attn_implementation=attn_implementation, trust_remote_code=trust_remote_code,
                                   extra={"local_files_only": local_files_only, **(model_kwargs or {})})
        with quiet_loading():
            self.tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code,
                                                           local_files_only=local_files_only)
            self.model = _load_model(AutoModelForCausalLM, location, kwargs, chosen_attn=attn_implementation is None)
        if "device_map" not in kwargs:
            self.model.to(device)
        self.model.eval()
        self.int8 = check_int8(int8, device=device, quantized=load_in_4bit)
        if self.int8:
            self.model = quantized_int8(self.model)
        self.scorer = onnx_scorer(scoring, self.model, identity, device=device, exact=not self.int8)
        # With a device map the inputs go where the embeddings are.
        self.device = str(self.model.device) if "device_map" in kwargs else device
        self.repetition_penalty = repetition_penalty
        self.context_window = int(getattr(self.model.config, "max_position_embeddings", 4096))
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    # -- prompts -----------------------------------------------------------------------------
    def render(self, prompt: Prompt, *, generation_prompt: bool = True) -> str:
        """The prompt as the model sees it (its chat template when it has one)."""
        messages = as_messages(prompt)
        if self.tokenizer.chat_template:
            return str(self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt)
            )
        text = "\n\n".join(m["content"] for m in messages)
        return text + "\n\n" if generation_prompt else text

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def kv_shape(self) -> tuple[int, int, int]:
        """``(layers, kv_heads, head_dim)`` of this model's KV cache."""
        return kv_shape(self.model.config)

    def kv_bytes_per_token(self) -> int:
        """Bytes of KV cache one token takes (keys and values of every layer)."""
        layers, heads, head_dim = self.kv_shape()
        return 2 * layers * heads * head_dim * self.model.dtype.itemsize

    def suggest_batch_size(self, tokens_per_item: int) -> int:
        """Sequences of ``tokens_per_item`` to generate at once: by free GPU memory, 4 on a CPU.

        The KV cache is counted three times over to leave room for activations and logits."""
        return auto_batch_size(self.device, 3 * tokens_per_item * self.kv_bytes_per_token())

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(o) for o in enc["offset_mapping"]]

    def encode(self, text: str) -> torch.Tensor:
        """Token ids of ``text`` (a rendered prompt: no special tokens added), on the model's device."""
        return self.tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids.to(self.device)

    def generation_kwargs(self, max_new_tokens: int, temperature: float) -> dict:
        """The ``model.generate`` options for greedy (``temperature`` 0) or sampled decoding."""
        kwargs = {
            "max_new_tokens": max_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=0.95)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    # -- generation --------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 stop: Sequence[str] | None = None) -> str:
        ids = self.encode(self.render(prompt))
        out = self.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), **self._cache_kwarg(self._new_cache(max_new_tokens)),
            **self.generation_kwargs(max_new_tokens, temperature)
        )
        return cut_at_stop(self.decode(out[0, ids.shape[1]:]), stop)

    @torch.inference_mode()
    def generate_batch(self, prompts: Sequence[Prompt], max_new_tokens: int = 256) -> list[str]:
        if not prompts:
            return []
        texts = [self.render(p) for p in prompts]
        self.tokenizer.padding_side = "left"
        enc = self.tokenizer(texts, add_special_tokens=False, return_tensors="pt", padding=True).to(self.device)
        out = self.model.generate(**enc, **self._cache_kwarg(self._new_cache(max_new_tokens)),
                                  **self.generation_kwargs(max_new_tokens, 0.0))
        width = enc["input_ids"].shape[1]
        return [self.decode(row[width:]) for row in out]

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        ids = self.encode(self.render(prompt))
        yield from self._stream_ids(ids, self._new_cache(max_new_tokens), max_new_tokens, temperature, stop)

    def _stream_ids(self, ids, cache, max_new_tokens, temperature, stop) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                      **self._cache_kwarg(cache), **self.generation_kwargs(max_new_tokens, temperature))
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        text = ""
        for piece in streamer:
            if stop:
                text += piece
                cut = cut_at_stop(text, stop)
                if len(cut) < len(text):
                    tail = cut[len(text) - len(piece):]
                    if tail:
                        yield tail
                    break
            if piece:
                yield piece
        worker.join()
        if errors:
            raise errors[0]

    def decode(self, ids: torch.Tensor) -> str:
        """Generated ids as text, special tokens dropped."""
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()

    # -- scoring -----------------------------------------------------------------------------
    @torch.inference_mode()
    def continuation_logprobs(self, prompts: Sequence[Prompt], continuation: str, *,
                              batch_size: int | None = None) -> list[float]:
        """Summed log-probability of ``continuation`` as the reply to each prompt.

        The rows are left-padded so that the shared continuation ends every row: only its positions'
        logits are computed (a full vocabulary per position of every row would not fit).
        ``batch_size``: rows per forward pass; by default 8 in torch, or the ONNX scorer's own (see
        :class:`~memorag_integrations.llm.onnx_scoring.OnnxScorer`, which reads the rows' shared
        prefix once)."""
        tail = self.tokenizer(continuation, add_special_tokens=False).input_ids
        if not tail:
            return [0.0] * len(prompts)
        heads = [self.tokenizer(self.render(p), add_special_tokens=False).input_ids for p in prompts]
        if self.scorer is not None:
            return self.scorer.score_rows(heads, tail, batch_size=batch_size)
        batch_size = batch_size or 8
        target = torch.tensor(tail, device=self.device)
        scores: list[float] = []
        for start in range(0, len(heads), batch_size):
            rows = [head + tail for head in heads[start:start + batch_size]]
            ids, mask, positions = self._tensors(left_padded(rows, self.tokenizer.pad_token_id))
            targets = target.expand(len(rows), -1)
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                logits_to_keep=len(tail) + 1).logits[:, :-1].float()
            picked = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])
            scores.extend(picked[..., 0].sum(dim=-1).tolist())
        return scores

    @torch.inference_mode()
    def continuation_logprobs_from_prefix(self, prefix: KVPrefix, suffixes: Sequence[str], continuation: str, *,
                                          batch_size: int = 8) -> list[float]:
        """:meth:`continuation_logprobs` after ``prefix`` (already read): the summed log-probability
        of ``continuation`` after the prefix and each suffix. The prefix is read from its cache, not
        again; shorter suffixes are padded where they meet it, under a zero attention mask."""
        tail = self.tokenizer(continuation, add_special_tokens=False).input_ids
        if not tail:
            return [0.0] * len(suffixes)
        heads = [self.encode(s)[0].tolist() for s in suffixes]
        target = torch.tensor(tail, device=self.device)
        scores: list[float] = []
        for start in range(0, len(heads), batch_size):
            rows = [head + tail for head in heads[start:start + batch_size]]
            padded = left_padded(rows, int(prefix.input_ids[0, 0]), prefix=prefix.length)
            ids, mask, positions = self._tensors(padded)
            cache = self._new_cache(ids.shape[1], prefix, batch=len(rows))
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                logits_to_keep=len(tail) + 1, **self._cache_kwarg(cache)).logits[:, :-1].float()
            picked = torch.log_softmax(logits, dim=-1).gather(-1, target.expand(len(rows), -1)[..., None])
            scores.extend(picked[..., 0].sum(dim=-1).tolist())
        return scores

    def _tensors(self, padded: PaddedRows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Padded rows' ids, mask and positions as tensors on this model's device."""
        ids, mask, positions = (torch.from_numpy(a).to(self.device) for a in padded)
        return ids, mask, positions

    # -- KV prefixes (memory) ----------------------------------------------------------------
    @torch.inference_mode()
    def prefill(self, text: str) -> KVPrefix:
        """Run ``text`` through the model once and keep its KV cache."""
        from transformers import DynamicCache

        ids = self.encode(text)
        cache = DynamicCache(config=self.model.config)
        self.model(input_ids=ids, use_cache=True, logits_to_keep=1, **self._cache_kwarg(cache))
        layers: list[Any] = list(cache.layers)  # plain attention layers: each holds keys and values
        return KVPrefix(ids, tuple(layer.keys for layer in layers), tuple(layer.values for layer in layers))

    def _cache_kwarg(self, cache: Any) -> dict[str, Any]:
        """``cache`` under the name this transformers version takes (``past_key_values`` is
        deprecated for ``cache`` in 5.x and warns at every call)."""
        if cache is None:
            return {}
        forward = inspect.signature(self.model.forward).parameters
        return {"cache" if "cache" in forward else "past_key_values": cache}

    def _new_cache(self, room: int, prefix: KVPrefix | None = None, batch: int = 1):
        """A cache for one generate call, holding ``prefix`` and growing in place by ``room`` new
        tokens (see ``kv_room``); a plain ``DynamicCache`` where the model's layers need one; None
        (the model's own choice) for a plain prompt to a remote-code model. Either
        way the prefix tensors are only read (the first new token copies them), so they are shared
        safely between queries and threads."""
        from memorag_integrations.llm.kv_room import cache_with_room, concatenating_cache

        if prefix is None and not type(self.model).__module__.startswith("transformers."):
            return None  # remote code (a beacon model) keeps the cache its own generate makes
        layers = list(zip(prefix.keys, prefix.values)) if prefix is not None else []
        cache = cache_with_room(self.model.config, room, layers, batch)
        return cache if cache is not None else concatenating_cache(self.model.config, layers, batch)

    @torch.inference_mode()
    def generate_from_prefix(self, prefix: KVPrefix, suffix: str, max_new_tokens: int = 256, *,
                             temperature: float = 0.0) -> str:
        """Continue ``prefix`` (already read) with ``suffix`` and generate."""
        ids = torch.cat([prefix.input_ids, self.encode(suffix)], dim=1)
        out = self.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids),
            **self._cache_kwarg(self._new_cache(max_new_tokens, prefix)),
            **self.generation_kwargs(max_new_tokens, temperature),
        )
        return self.decode(out[0, ids.shape[1]:])

    @torch.inference_mode()
    def generate_many_from_prefix(self, prefix: KVPrefix, suffixes: Sequence[str],
                                  max_new_tokens: Sequence[int]) -> list[str]:
        """:meth:`generate_from_prefix` (greedy) for several suffixes in one batch over the shared
        prefix. Shorter suffixes are padded where they meet the prefix, under a zero attention mask
        (positions follow the mask, so each suffix sits where it would alone); the padding token is
        the prefix's first one, which every row holds already, so the repetition penalty, which
        counts the tokens of the whole row, is unchanged."""
        encoded = [self.encode(s)[0].tolist() for s in suffixes]
        padded = left_padded(encoded, int(prefix.input_ids[0, 0]), prefix=prefix.length)
        own, mask, _ = self._tensors(padded)
        ids = torch.cat([prefix.input_ids.to(self.device).expand(len(suffixes), -1), own], dim=1)
        cache = self._new_cache(max(max_new_tokens), prefix, batch=len(suffixes))
        out = self.model.generate(input_ids=ids, attention_mask=mask, **self._cache_kwarg(cache),
                                  **self.generation_kwargs(max(max_new_tokens), 0.0))
        return [self.decode(row[ids.shape[1]:][:n]) for row, n in zip(out, max_new_tokens)]

    def stream_from_prefix(self, prefix: KVPrefix, suffix: str, max_new_tokens: int = 256) -> Iterator[str]:
        ids = torch.cat([prefix.input_ids, self.encode(suffix)], dim=1)
        cache = self._new_cache(max_new_tokens, prefix)
        yield from self._stream_ids(ids, cache, max_new_tokens, 0.0, None)

    def __repr__(self) -> str:
        return f"TransformersGenerator(identity={self.identity!r}, device={self.device!r}, int8={self.int8})"


def quantized_int8(model):
    """``model`` with the linear layers of its blocks in int8, a scale per output channel (one
    scale per matrix garbled the embedded model's answers). The output head stays exact: it picks
    every token, and a prefill reads it for one position only."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    head = model.get_output_embeddings()
    names = {name: per_channel_dynamic_qconfig for name, module in model.named_modules()
             if isinstance(module, torch.nn.Linear) and module is not head}
    with warnings.catch_warnings():  # torch warns at every layer that these kernels are deprecated
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization", category=DeprecationWarning)
        return quantize_dynamic(model, names, dtype=torch.qint8)


SCORING = ("auto", "onnx", "openvino", "torch")
_RUNTIME = {"onnx": "onnxruntime", "openvino": "openvino"}


def onnx_scorer(scoring: str, model: Any, identity: str, *, device: str, exact: bool) -> OnnxScorer | None:
    """The scorer over an ONNX export that ``scoring`` asks for (``auto``: where it can run the
    model as it is, float32 weights on a CPU, the runtime of :func:`auto_runtime`), or None for
    torch's own forward pass."""
    if scoring not in SCORING:
        raise InvalidInputError(f"scoring must be one of {', '.join(SCORING)}; got {scoring!r}")
    runnable = device == "cpu" and exact and getattr(model, "dtype", None) == torch.float32
    if scoring in _RUNTIME and not runnable:
        raise InvalidInputError(f"scoring={scoring!r} runs a float32 model on a CPU; this one is on {device!r} in "
                                f"{getattr(model, 'dtype', '?')}{'' if exact else ' with int8 layers'}: use 'torch'")
    runtime = _RUNTIME[scoring] if scoring in _RUNTIME else auto_runtime()
    if scoring == "torch" or not runnable or runtime is None:
        return None
    return OnnxScorer(model, identity, runtime=runtime)


def check_int8(int8: object, *, device: str, quantized: bool) -> bool:
    """``int8`` where it can run, else a typed error: torch's dynamic int8 kernels run on a CPU
    only, and not on weights already quantized."""
    if not isinstance(int8, bool):
        raise InvalidInputError(f"int8 must be True or False, got {int8!r}")
    if int8 and (device != "cpu" or quantized):
        raise InvalidInputError(f"int8 runs on a CPU with unquantized weights; got device {device!r}"
                                f"{' and load_in_4bit' if quantized else ''}: leave int8 off there")
    return int8


def _load_model(auto_cls, location, kwargs: dict, *, chosen_attn: bool):
    try:
        return auto_cls.from_pretrained(location, **kwargs)
    except ValueError as exc:
        # Some (remote-code) architectures lack SDPA/FlashAttention; fall back to their default
        # kernel, but only when the kernel was our choice and not the user's.
        message = str(exc).lower()
        if not chosen_attn or not ("attn" in message or "attention" in message):
            raise
        logger.warning("attention kernel %r not supported (%s); using the model's default",
                       kwargs.get("attn_implementation"), exc)
        return auto_cls.from_pretrained(location, **{k: v for k, v in kwargs.items() if k != "attn_implementation"})
