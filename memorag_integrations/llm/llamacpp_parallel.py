"""Several sequences decoded at once in one llama.cpp context.

A llama.cpp forward pass costs about the same for one token as for a handful, so greedy decoding of
several prompts is done step by step together: one ``llama_decode`` per step reads the next token of
every sequence. The sequences live in one unified KV cache and may start from a shared prefix (the
memory, or an instruction every prompt begins with), which is read once and shared by reference.

Decoding is greedy with llama.cpp's repetition penalty (over the last :data:`PENALTY_LAST_N` generated
tokens, as ``Llama.generate`` applies it), so a sequence decoded here gives the tokens it would give
alone.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence

import numpy as np

from memorag_integrations.errors import GenerationError

#: Generated tokens the repetition penalty looks back over (llama-cpp-python's ``last_n_tokens_size``).
PENALTY_LAST_N = 64


def allow_sequences(llm, n_seq: int) -> None:
    """Re-create the context of ``llm`` (a ``llama_cpp.Llama``) so that it holds up to ``n_seq``
    sequences in one KV cache of the same size (unified: any sequence may use any cell, so sequence
    0 alone can still fill the whole context). Nothing has been read yet, so nothing is lost."""
    from llama_cpp import _internals

    params = llm.context_params
    params.n_seq_max = n_seq
    params.kv_unified = True
    context = _internals.LlamaContext(model=llm._model, params=params, verbose=llm.verbose)
    old, llm._ctx = llm._ctx, context
    old.close()


def max_sequences(llm) -> int:
    import llama_cpp

    return int(llama_cpp.llama_n_seq_max(llm.ctx))


def decode_parallel(llm, prompts: Sequence[Sequence[int]], max_new_tokens: Sequence[int], *, keep: int = 0,
                    penalty: float = 1.0) -> list[list[int]]:
    """Greedy continuations of ``prompts``, each read after the first ``keep`` positions of sequence 0
    (kept, and shared by every prompt); returns the generated token ids of each, end token excluded.

    Afterwards the cache holds sequence 0's first ``keep`` positions and nothing else, as
    ``Llama.n_tokens = keep`` says. The caller holds the context's lock and checks the sizes
    (:func:`cells_needed`).
    """
    import llama_cpp

    n = len(prompts)
    if n == 0:
        return []
    if any(len(p) == 0 for p in prompts):
        raise GenerationError("nothing to generate from: a prompt is empty")
    if n > max_sequences(llm):
        raise GenerationError(f"{n} sequences at once, but this llama.cpp context holds {max_sequences(llm)}")
    memory = llm._ctx.memory
    _forget_after(llm, keep, n)
    common = _shared_start(prompts)
    batch = llama_cpp.llama_batch_init(max(llm.n_batch, n), 0, 1)
    try:
        if common:
            _read(llm, batch, [(0, prompts[0][:common], keep)], want_logits=False)
        for s in range(1, n):
            llama_cpp.llama_memory_seq_cp(memory, 0, s, -1, -1)
        logits = _read(llm, batch, [(s, p[common:], keep + common) for s, p in enumerate(prompts)],
                       want_logits=True)
        generated: list[list[int]] = [[] for _ in prompts]
        position = [keep + len(p) for p in prompts]
        active = list(range(n))
        while True:
            step = []
            for s in active:
                token = _pick(logits[s], generated[s][-PENALTY_LAST_N:], penalty)
                if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                    continue
                generated[s].append(token)
                if len(generated[s]) < max_new_tokens[s]:
                    step.append(s)
            active = step
            if not active:
                break
            logits = _read(llm, batch, [(s, [generated[s][-1]], position[s]) for s in active], want_logits=True)
            for s in active:
                position[s] += 1
        return generated
    finally:
        llama_cpp.llama_batch_free(batch)
        _forget_after(llm, keep, n)
        llm.n_tokens = keep


def score_parallel(llm, prompts: Sequence[Sequence[int]], tail: Sequence[int]) -> list[float]:
    """The summed log-probability of ``tail`` after each prompt: each prompt and the tail are read
    as one sequence from the start of the cache, all sequences in the same passes, with logits
    only at the positions that predict the tail. The cache is left empty (``Llama.n_tokens = 0``);
    the caller holds the context's lock and keeps the group within the cache."""
    import llama_cpp

    if not prompts or not tail:
        return [0.0] * len(prompts)
    if len(prompts) > max_sequences(llm):
        raise GenerationError(f"{len(prompts)} sequences at once, but this llama.cpp context holds "
                              f"{max_sequences(llm)}")
    _forget_after(llm, 0, len(prompts))
    batch = llama_cpp.llama_batch_init(llm.n_batch, 0, 1)
    try:
        starts = {s: len(p) - 1 for s, p in enumerate(prompts)}  # the position before the tail's first token
        logits = _read_logits(llm, batch, [(s, [*p, *tail], 0) for s, p in enumerate(prompts)],
                              lambda s, i: starts[s] <= i < starts[s] + len(tail))
        scores = []
        for s in range(len(prompts)):
            rows = np.stack([logits[(s, starts[s] + j)] for j in range(len(tail))]).astype(np.float64)
            peak = rows.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(rows - peak).sum(axis=1)) + peak[:, 0]
            scores.append(float((rows[np.arange(len(tail)), list(tail)] - log_norm).sum()))
        return scores
    finally:
        llama_cpp.llama_batch_free(batch)
        _forget_after(llm, 0, len(prompts))
        llm.n_tokens = 0


def cells_needed(prompts: Sequence[Sequence[int]], max_new_tokens: Sequence[int]) -> int:
    """KV cells a :func:`decode_parallel` call takes beyond its kept prefix (the shared start counted once)."""
    common = _shared_start(prompts)
    return common + sum(len(p) - common + m for p, m in zip(prompts, max_new_tokens))


def _forget_after(llm, keep: int, n_seq: int) -> None:
    import llama_cpp

    memory = llm._ctx.memory
    llama_cpp.llama_memory_seq_rm(memory, 0, keep, -1)
    for s in range(1, max(n_seq, 1)):
        llama_cpp.llama_memory_seq_rm(memory, s, -1, -1)


def _read(llm, batch, pieces: list[tuple[int, Sequence[int], int]], *, want_logits: bool) -> dict[int, np.ndarray]:
    """Read ``(sequence, tokens, first position)`` pieces in as few ``llama_decode`` calls as the
    context's batch allows; returns the logits after each piece's last token (when ``want_logits``)."""
    last = {s: len(toks) - 1 for s, toks, _ in pieces}
    got = _read_logits(llm, batch, pieces, lambda s, i: want_logits and i == last[s])
    return {s: row for (s, _), row in got.items()}


def _read_logits(llm, batch, pieces: list[tuple[int, Sequence[int], int]],
                 wanted: Callable[[int, int], bool]) -> dict[tuple[int, int], np.ndarray]:
    """:func:`_read`'s work: the logits after the ``i``-th token of sequence ``s``'s piece wherever
    ``wanted(s, i)``, keyed ``(s, i)``."""
    import llama_cpp

    n_vocab = int(llama_cpp.llama_vocab_n_tokens(llm._model.vocab))
    queue = [(s, j, pos + j, t) for s, toks, pos in pieces for j, t in enumerate(toks)]
    out: dict[tuple[int, int], np.ndarray] = {}
    for begin in range(0, len(queue), llm.n_batch):
        part = queue[begin:begin + llm.n_batch]
        batch.n_tokens = len(part)
        kept: dict[tuple[int, int], int] = {}
        for i, (s, j, pos, token) in enumerate(part):
            batch.token[i], batch.pos[i] = token, pos
            batch.n_seq_id[i], batch.seq_id[i][0] = 1, s
            batch.logits[i] = wanted(s, j)
            if batch.logits[i]:
                kept[(s, j)] = i
        code = llama_cpp.llama_decode(llm.ctx, batch)
        if code != 0:
            raise GenerationError(f"llama.cpp could not decode {len(part)} tokens of {len(pieces)} sequences "
                                  f"(code {code}: the context is too small for them; pass a larger n_ctx)")
        for key, i in kept.items():
            pointer = ctypes.cast(llama_cpp.llama_get_logits_ith(llm.ctx, i), ctypes.POINTER(ctypes.c_float))
            out[key] = np.ctypeslib.as_array(pointer, shape=(n_vocab,)).copy()
    return out


def _pick(logits: np.ndarray, recent: list[int], penalty: float) -> int:
    """The greedy token after llama.cpp's repetition penalty on ``recent`` tokens."""
    if penalty != 1.0 and recent:
        seen = np.unique(np.asarray(recent, dtype=np.int64))
        values = logits[seen]
        logits[seen] = np.where(values > 0, values / penalty, values * penalty)
    return int(np.argmax(logits))


def _shared_start(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens the prompts begin with alike (the chat template and the instruction, for gist prompts),
    read once in sequence 0 and shared; each prompt keeps at least its last token to read, for logits."""
    if len(prompts) < 2:
        return 0
    first, n = prompts[0], min(len(p) for p in prompts) - 1
    for i in range(n):
        if any(p[i] != first[i] for p in prompts[1:]):
            return i
    return max(n, 0)
