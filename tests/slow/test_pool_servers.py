"""Scale-out with real servers: a memory gists its sections over two llama.cpp servers on loopback
(OpenAI-compatible, each behind a recording proxy) at once, and writes what one server writes."""

from urllib.parse import urlsplit

import pytest
from fault_proxy import FaultProxy
from llama_server import API_KEY, MODEL_ALIAS, LlamaServer
from testdata import language_reference_slice

from memorag_integrations import Document, MemoRAG, PromptMemory
from memorag_integrations.memory.gist import GistCache

pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (extra 'llamacpp')")
pytest.importorskip("openai", reason="needs openai (extra 'openai')")

# A corpus that needs about eight gists: sections of 160 tokens, a 256-token memory.
MEMORY = {"max_memory_tokens": 256, "gist_chunk_tokens": 160, "gist_tokens": 24}


def openai_member(url):
    from memorag_integrations.llm.openai import OpenAIGenerator

    return OpenAIGenerator(MODEL_ALIAS, base_url=url, api_key=API_KEY, context_window=4096, timeout=180.0,
                           concurrency=1)


def memorize(generator, tmp_path, name):
    memory = PromptMemory(generator, **MEMORY)
    memory.compressor.cache = GistCache(tmp_path / name)
    text = language_reference_slice(("break", "continue", "for", "while", "try"))[:6000]
    return MemoRAG(memory, progress=False).memorize(Document(text, "langref"))


def test_two_servers_share_the_gisting_and_write_what_one_writes(tmp_path, llama_server_url):
    from memorag_integrations.llm.pool import PooledGenerator

    with LlamaServer(n_threads=1) as first, LlamaServer(n_threads=1) as second, \
            FaultProxy(f"http://{urlsplit(first.base_url).netloc}") as p1, \
            FaultProxy(f"http://{urlsplit(second.base_url).netloc}") as p2:
        pool = PooledGenerator([openai_member(p1.url + "/v1"), openai_member(p2.url + "/v1")])
        assert pool.identity == pool.members[0].identity and pool.concurrency == 2  # one host: its identity
        pooled = memorize(pool, tmp_path, "pool")
        calls = [len([r for r in p.requests if r.path.endswith("/chat/completions")]) for p in (p1, p2)]
        assert pooled.clues("How do I leave a loop early?").queries()  # queries take turns on the servers
    gists = pooled.memory.gists
    assert len([g for g in gists if g.level == 1]) >= 6
    assert all(n >= 2 for n in calls) and sum(calls) >= len(gists), calls  # both servers gisted
    single = memorize(openai_member(llama_server_url), tmp_path, "single")
    assert [g.gist for g in single.memory.gists] == [g.gist for g in gists]  # greedy: the same gists
