"""Every default the engine, the memories and the adapters share, defined once."""

from __future__ import annotations

#: Evidence chunks given to the generator per query (``k`` in the engine, the CLI and both adapters).
K = 5
#: Tokens the memory may write for each clue call (clue spans, surrogate questions, draft).
CLUE_TOKENS = 96
#: Tokens of a final answer, and of the memory's key points for a summary.
ANSWER_TOKENS = 192

#: Retrieval chunks, in the embedder's tokens, and the tokens two neighbouring chunks share.
CHUNK_TOKENS = 200
CHUNK_OVERLAP = 24

#: The memory window: a corpus longer than this is gisted first.
MAX_MEMORY_TOKENS = 4096
#: Sections of that many tokens are condensed into gists of at most ``GIST_TOKENS``.
GIST_CHUNK_TOKENS = 1536
GIST_TOKENS = 64
#: How a saved KV cache is stored (see memorag_integrations.kvcodec): half precision gave the same
#: clues and evidence as float32 for every question of ``python -m benchmarks.kv_dtype``, so a loaded
#: folder answers as before saving; 8 bits (a quarter of the bytes) lost no question's recall over
#: ``--suite hotpot`` (50 questions) and ``--suite legal --split heldout`` (36), but changed the
#: evidence of 5 and 14 of them.
KV_DTYPE = "float16"
#: Tokens of the model's window kept free of memory for the instruction and the answer.
ANSWER_RESERVE = 1024


def fetch_count(k: int) -> int:
    """Hits each search fetches before fusion: enough that a chunk found by several searches
    at middling ranks can still rise into the top ``k``."""
    return max(2 * k, 10)


def memory_budget(context_window: int, max_memory_tokens: int | None = None) -> int:
    """Tokens the memory may hold in a model of ``context_window`` tokens."""
    room = max(512, context_window - ANSWER_RESERVE)
    return room if max_memory_tokens is None else min(max_memory_tokens, room)

# The pipeline's optional steps (see pipeline.Steps), measured on the dev benchmarks and checked on
# held-out (benchmarks/README.md): clues are kept when their best hit holds this share of their new
# words (it held on held-out), and how many of the first round's best hits join the query for a
# second search (off: it helped on dev but lost evidence on held-out hotpot).
GROUNDING: float | None = 0.3
FEEDBACK = 0
# Candidates the reranker reads (see pipeline.Steps.rerank), where a model can score them. 15 of
# 6-20 on MultiHop-RAG dev (facts@10 +0.047 over 10); held-out: facts@10 +0.029 [-0.004, +0.062]
# over 10, +0.095 [+0.048, +0.145] over dense, +0.064 [+0.030, +0.104] over the same reranker
# without the catalog (benchmarks/README.md, "The reranker's depth").
RERANK = 15
# Candidates it reads when the memory's clues are searched beside the query: their hits take places
# among the best 15 that the query's own hits held. Chosen on MultiHop-RAG dev with Qwen2.5-Coder-
# 1.5B's clues (facts@10 0.744 against 0.718 at 15); held-out: +0.081 [+0.041, +0.127] over the
# same pipeline without the memory, +0.031 [-0.001, +0.067] over that pipeline reading 20
# (benchmarks/README.md, "A stronger memory's clues"). The embedded model writes no clues: 15.
RERANK_WITH_CLUES = 20
# Sentences of each candidate the default reranker reads: the ones nearest the question by the
# embedder (None: whole passages). Against whole passages: MultiHop-RAG facts@5 +0.034 [+0.000,
# +0.077] on dev, +0.014 [-0.021, +0.051] held-out; contracts R@5 +0.028 [+0.000, +0.083]; and
# fewer tokens to read (benchmarks/README.md, "The embedded model's defaults").
RERANK_SENTENCES: int | None = 3
# The catalog's scoped searches (see pipeline.Steps.scope): one search per source a question names,
# over that source's documents, each weighing SCOPE_WEIGHT in the fusion, the best SCOPE_SEED hits of
# each first. Chosen on MultiHop-RAG dev (39 questions): all gold articles in the top 10 +0.128 over
# dense, facts@10 +0.009; confirmed on held-out (70): facts@10 +0.06, interval above zero
# (benchmarks/README.md). A question that names no source of the corpus's metadata is not changed.
SCOPE = True
SCOPE_WEIGHT = 0.5
SCOPE_SEED = 1
# Routing (see MemoRAG.route): off by default until it wins on held-out; hits searched per routed document.
ROUTE: int | None = None
ROUTE_FETCH = 4
