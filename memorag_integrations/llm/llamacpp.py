"""GGUF models in-process through llama.cpp (extra ``llamacpp``): fast on a CPU, no torch at run time.

One ``Llama`` context holds one sequence of KV cache and is not thread-safe, so every call on a
:class:`LlamaCppGenerator` is serialized by its lock. :class:`~memorag_integrations.memory.llamacpp.LlamaCppKVMemory`
keeps a read prefix in that same cache and puts it back (from bytes, never by reading again) when
another call has used the cache in between.
"""

from __future__ import annotations

import ctypes
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memorag_integrations.errors import GenerationError, IncompatibleStoreError, InvalidInputError, require
from memorag_integrations.llm.base import Prompt, TextGenerator, as_messages, cut_at_stop
from memorag_integrations.llm.llamacpp_parallel import allow_sequences, cells_needed, decode_parallel, score_parallel
from memorag_integrations.models import DEFAULT_LM, GGUF_WEIGHTS, requantized_gguf, resolve_lm
from memorag_integrations.text import regex_offsets

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def llamacpp_available() -> bool:
    from memorag_integrations.models import package_available

    return package_available("llama_cpp")


class LlamaCppGenerator(TextGenerator):
    """A GGUF model run by llama.cpp in this process.

    ``model``: None (the embedded SmolLM2-135M-Instruct GGUF) or a ``.gguf`` file.
    ``n_threads``: default all available cores, for both prompt reading and generation.
    ``n_gpu_layers``: layers offloaded to a GPU when llama.cpp was built with one (-1: all); 0 on a
    CPU build. ``flash_attn``: default on, which on llama.cpp lowers the KV memory and speeds up
    long prompts on CPUs and GPUs alike. ``n_ctx``: the context size, default the model's
    training window capped at 8192 tokens (the KV cache is allocated up front). ``sequences``:
    prompts decoded at once by :meth:`generate_batch` and :meth:`continue_parallel`, in that one
    cache (1: one at a time). ``weights``: ``"auto"`` (F16 for the embedded model, rewritten once
    from its 4-bit file: 1.6x the prompt reading speed and the same greedy tokens, measured by
    ``python -m benchmarks.cpu_options``; any other file as it is), ``"file"`` (as it is), or
    ``"f16"`` / ``"q8_0"`` (rewritten once, cached; for small models: F16 doubles a 4-bit file's size).
    """

    def __init__(self, model: str | os.PathLike | None = None, *, n_ctx: int | None = None,
                 n_threads: int | None = None, n_gpu_layers: int | None = None, flash_attn: bool = True,
                 n_batch: int = 512, repetition_penalty: float = 1.1, sequences: int = 4,
                 weights: str = "auto", verbose: bool = False, llama_kwargs: dict | None = None) -> None:
        llama_cpp = require("llama_cpp", "llamacpp", "LlamaCppGenerator")
        identity, location, gguf_file = resolve_lm(model)
        if gguf_file is None:
            raise InvalidInputError(f"{model!r} is not a GGUF file; llama.cpp runs .gguf models (use "
                                    "TransformersGenerator for Hugging Face folders and ids)")
        if weights not in ("auto", "file", *GGUF_WEIGHTS):
            raise InvalidInputError(f"weights must be auto, file, {' or '.join(GGUF_WEIGHTS)}; got {weights!r}")
        if sequences < 1:
            raise InvalidInputError(f"sequences must be at least 1, got {sequences}")
        self.identity = identity
        self.path = Path(location) / gguf_file
        if weights == "auto":
            weights = "f16" if identity == DEFAULT_LM else "file"
        if weights != "file":
            self.path = requantized_gguf(self.path, weights)
        self.weights = weights
        self.n_threads = n_threads or available_cores()
        if n_gpu_layers is None:
            n_gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        self.flash_attn = bool(flash_attn)
        self.llm = llama_cpp.Llama(
            model_path=str(self.path), n_ctx=n_ctx or 8192, n_batch=n_batch, n_threads=self.n_threads,
            n_threads_batch=self.n_threads, n_gpu_layers=n_gpu_layers, flash_attn=self.flash_attn,
            logits_all=False, verbose=verbose, **(llama_kwargs or {}))
        train_ctx = self.llm._model.n_ctx_train()
        if n_ctx is None and train_ctx and train_ctx < self.llm.n_ctx():  # never beyond what it was trained on
            logger.info("model trained on %d tokens; the context is cut to that", train_ctx)
        self.context_window = min(self.llm.n_ctx(), train_ctx or self.llm.n_ctx())
        self.sequences = sequences
        if sequences > 1:
            allow_sequences(self.llm, sequences)
        self.repetition_penalty = repetition_penalty
        self.lock = threading.RLock()
        self._prefix_owner: object | None = None  # whose prefix the KV cache holds now
        self._formatter = self._chat_formatter(llama_cpp)

    def _chat_formatter(self, llama_cpp):
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def piece(token_id: int) -> str:
            return self.llm.detokenize([token_id], special=True).decode("utf-8", "replace") if token_id >= 0 else ""

        return {flag: Jinja2ChatFormatter(template, eos_token=piece(self.llm.token_eos()),
                                          bos_token=piece(self.llm.token_bos()), add_generation_prompt=flag)
                for flag in (True, False)}

    # -- prompts -----------------------------------------------------------------------------
    def render(self, prompt: Prompt, *, generation_prompt: bool = True) -> str:
        """The prompt as the model sees it: the GGUF's own chat template (the one transformers uses)."""
        messages = as_messages(prompt)
        if self._formatter is not None:
            return self._formatter[generation_prompt](messages=messages).prompt
        text = "\n\n".join(m["content"] for m in messages)
        return text + "\n\n" if generation_prompt else text

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``, control tokens such as ``<|im_start|>`` included, no BOS added
        (chat templates write their own)."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Char spans of the tokens of ``text``, for token-sized chunks."""
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        pieces = [self.llm.detokenize([t]) for t in ids]
        data = text.encode("utf-8")
        if b"".join(pieces) != data:  # e.g. SentencePiece's added leading space: no exact mapping
            return regex_offsets(text)
        char_at = np.cumsum([0] + [len(ch.encode("utf-8")) for ch in text])  # byte offset of each char
        starts = np.cumsum([0] + [len(p) for p in pieces])
        to_char = lambda b: int(np.searchsorted(char_at, b, side="left"))  # noqa: E731
        return [(to_char(starts[i]), to_char(starts[i + 1])) for i in range(len(ids))]

    # -- generation --------------------------------------------------------------------------
    def generate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 stop: Sequence[str] | None = None) -> str:
        tokens = self.tokenize(self.render(prompt))
        with self.lock:
            return "".join(self.continue_from(0, tokens, max_new_tokens, temperature=temperature, stop=stop)).strip()

    def generate_batch(self, prompts: Sequence[Prompt], max_new_tokens: int = 256) -> list[str]:
        """Greedy completions of ``prompts``, decoded :attr:`sequences` at a time in one cache (what
        :meth:`generate` gives each, read and decoded together)."""
        tokens = [self.tokenize(self.render(p)) for p in prompts]
        with self.lock:
            self._prefix_owner = None  # the cache is used from its start
            return self._decode_groups(0, tokens, [max_new_tokens] * len(tokens))

    def continuation_logprobs(self, prompts: Sequence[Prompt], continuation: str) -> list[float]:
        """Summed log-probability of ``continuation`` as the reply to each prompt, :attr:`sequences`
        prompts read together (as many as fit the cache)."""
        tail = self.llm.tokenize(continuation.encode("utf-8"), add_bos=False, special=False)
        heads = [self.tokenize(self.render(p)) for p in prompts]
        for head in heads:
            self._check_room(len(head) + len(tail), 0)
        groups = self._pack(len(heads), lambda g: sum(len(heads[j]) for j in g) + len(g) * len(tail), self.llm.n_ctx())
        with self.lock:
            self._prefix_owner = None  # the cache is used from its start
            return [score for group in groups for score in score_parallel(self.llm, [heads[j] for j in group], tail)]

    def continue_parallel(self, keep: int, suffixes: Sequence[Sequence[int]],
                          max_new_tokens: Sequence[int]) -> list[str]:
        """:meth:`continue_from` for several suffixes at once: each reads its tokens after the first
        ``keep`` positions of the cache (a prefix they share, never written) and they decode together.
        The caller holds :attr:`lock`."""
        return self._decode_groups(keep, [list(s) for s in suffixes], list(max_new_tokens))

    def _check_room(self, prompt_tokens: int, max_new_tokens: int) -> None:
        if prompt_tokens + max_new_tokens > self.llm.n_ctx():
            raise InvalidInputError(
                f"{prompt_tokens} prompt tokens + {max_new_tokens} new ones exceed the llama.cpp context of "
                f"{self.llm.n_ctx()}; pass a larger n_ctx or use a smaller memory budget")

    def _decode_groups(self, keep: int, prompts: list[list[int]], max_new: list[int]) -> list[str]:
        """Decode ``prompts`` in groups that fit the cache beside ``keep`` kept positions."""
        for p, m in zip(prompts, max_new):
            self._check_room(keep + len(p), m)
        groups = self._pack(len(prompts), lambda g: cells_needed([prompts[j] for j in g], [max_new[j] for j in g]),
                            self.llm.n_ctx() - keep)
        outputs: list[str] = []
        for group in groups:
            tokens = decode_parallel(self.llm, [prompts[j] for j in group], [max_new[j] for j in group],
                                     keep=keep, penalty=self.repetition_penalty)
            outputs.extend(self.llm.detokenize(t).decode("utf-8", "replace").strip() for t in tokens)
        return outputs

    def _pack(self, count: int, cells: Callable[[list[int]], int], room: int) -> list[list[int]]:
        """Indices ``0..count-1`` in consecutive groups of at most :attr:`sequences` whose ``cells``
        fit ``room`` KV cells (a group of one always stands)."""
        groups: list[list[int]] = []
        for i in range(count):
            grown = groups[-1] + [i] if groups else []
            if grown and len(grown) <= self.sequences and cells(grown) <= room:
                groups[-1] = grown
            else:
                groups.append([i])
        return groups

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        tokens = self.tokenize(self.render(prompt))
        return self.locked_stream(lambda: self.continue_from(0, tokens, max_new_tokens, temperature=temperature,
                                                             stop=stop))

    def locked_stream(self, make: Callable[[], Iterator[str]]) -> Iterator[str]:
        """Run ``make()`` under :attr:`lock` in a worker thread and yield its pieces here.

        The lock stays with one thread even when the consumer calls ``next`` from several (as
        ``astream`` does); a consumer that stops early stops the worker at its next piece.
        """
        pieces: queue.Queue = queue.Queue()
        stopped = threading.Event()
        done = object()

        def run() -> None:
            try:
                with self.lock:
                    for piece in make():
                        if stopped.is_set():
                            break
                        pieces.put(piece)
            except BaseException as exc:  # re-raised in the consumer's thread
                pieces.put(_Failure(exc))
            finally:
                pieces.put(done)

        threading.Thread(target=run, daemon=True).start()
        try:
            while (item := pieces.get()) is not done:
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            stopped.set()

    def continue_from(self, keep: int, tokens: Sequence[int], max_new_tokens: int, *, temperature: float = 0.0,
                      stop: Sequence[str] | None = None) -> Iterator[str]:
        """Keep the first ``keep`` positions of the KV cache, read ``tokens`` after them, generate.

        The kept positions are never written, so a prefix there serves any number of calls. The
        caller holds :attr:`lock` for the whole iteration.
        """
        llm = self.llm
        self._check_room(keep + len(tokens), max_new_tokens)
        if not tokens:
            raise InvalidInputError("nothing to generate from: the prompt is empty")
        llm.n_tokens = keep  # eval() drops every cached position from here on
        if keep == 0:
            self._prefix_owner = None  # whatever prefix the cache held is being overwritten
        out: list[int] = []
        text, sent = "", 0
        try:
            steps = llm.generate(tokens, reset=False, temp=max(temperature, 0.0), top_k=40, top_p=0.95, min_p=0.0,
                                 repeat_penalty=self.repetition_penalty)
            for token in steps:
                if len(out) >= max_new_tokens or llama_cpp_is_eog(llm, token):
                    break
                out.append(token)
                # Decode the whole answer each step: single-token pieces can split characters.
                text = llm.detokenize(out).decode("utf-8", "ignore")
                cut = cut_at_stop(text, stop)
                if len(cut) < len(text):
                    if len(cut) > sent:
                        yield cut[sent:]
                    return
                if len(text) > sent:
                    yield text[sent:]
                    sent = len(text)
        except (RuntimeError, ValueError) as exc:
            raise GenerationError(f"llama.cpp failed while generating: {exc}") from exc
        final = llm.detokenize(out).decode("utf-8", "replace")
        if len(final) > sent and len(cut_at_stop(final, stop)) == len(final):
            yield final[sent:]

    # -- kept prefixes (memory) ------------------------------------------------------------
    # The caller of these holds :attr:`lock`: the cache is one shared sequence.
    def read_prefix(self, tokens: Sequence[int], owner: object) -> bytes:
        """Read ``tokens`` from the start of the KV cache for ``owner``; returns the cache state
        (llama.cpp's bytes of sequence 0) to restore it later with :meth:`restore_prefix`."""
        self.llm.n_tokens = 0
        self.llm.eval(tokens)
        self._prefix_owner = owner
        return _get_sequence(self.llm)

    def restore_prefix(self, owner: object, tokens: np.ndarray, state: bytes, *, force: bool = False) -> None:
        """Make the cache hold ``owner``'s prefix again: nothing to do if no other call used it in
        between (unless ``force``), else its state is copied back, never read again."""
        llm, n = self.llm, len(tokens)
        if not force and self._prefix_owner is owner and llm.n_tokens >= n:
            return
        _set_sequence(llm, state)
        llm.input_ids[:n] = tokens
        llm.n_tokens = n
        self._prefix_owner = owner

    def cache_layout(self) -> dict[str, int | bool]:
        """What saved KV bytes depend on: the model file and the cache's layout."""
        import llama_cpp

        llm = self.llm
        return {"model_bytes": self.path.stat().st_size, "n_layer": int(llama_cpp.llama_model_n_layer(llm.model)),
                "n_embd": int(llm.n_embd()), "flash_attn": self.flash_attn,
                "type_k": int(llm.context_params.type_k), "type_v": int(llm.context_params.type_v)}

    def __repr__(self) -> str:
        return (f"LlamaCppGenerator(identity={self.identity!r}, weights={self.weights!r}, threads={self.n_threads}, "
                f"flash_attn={self.flash_attn})")


def llama_cpp_is_eog(llm, token: int) -> bool:
    """End of generation: EOS, EOT or any other end token of the vocabulary."""
    import llama_cpp

    return bool(llama_cpp.llama_vocab_is_eog(llm._model.vocab, token))


@dataclass
class _Failure:
    error: BaseException


def _get_sequence(llm) -> bytes:
    import llama_cpp

    size = llama_cpp.llama_state_seq_get_size(llm.ctx, 0)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_seq_get_data(llm.ctx, buffer, size, 0)
    return bytes(buffer)[:written]


def _set_sequence(llm, data: bytes) -> None:
    import llama_cpp

    llm._ctx.kv_cache_seq_rm(0, 0, -1)
    buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    if llama_cpp.llama_state_seq_set_data(llm.ctx, buffer, len(data), 0) == 0:
        raise IncompatibleStoreError("llama.cpp refused the saved KV state (another model or context size?); "
                                     "memorize again")
