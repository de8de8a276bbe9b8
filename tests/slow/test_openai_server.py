"""The OpenAI-compatible generator against a real server: llama-cpp-python's OpenAI-compatible
server on loopback with the embedded SmolLM2 GGUF, directly and through the fault proxy."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

pytest.importorskip("openai", reason="needs the openai package (extra 'openai')")
pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (extra 'llamacpp')")

from testdata import language_reference_slice  # noqa: E402
from fault_proxy import Fault, FaultProxy  # noqa: E402
from llama_server import API_KEY, MODEL_ALIAS  # noqa: E402

from memorag_integrations import DenseRetriever, Document, MemoRAG  # noqa: E402
from memorag_integrations.errors import GenerationError  # noqa: E402
from memorag_integrations.llm.openai import OpenAIGenerator  # noqa: E402
from memorag_integrations.llm.retry import RetryPolicy  # noqa: E402
from memorag_integrations.memory.gist import GistCache  # noqa: E402
from memorag_integrations.memory.prompt import PromptMemory  # noqa: E402

pytestmark = pytest.mark.slow

PROMPT = "Write three sentences about rivers and the sea."
QUICK = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2)


def generator(base_url: str, **options) -> OpenAIGenerator:
    options = {"api_key": API_KEY, "context_window": 4096, "timeout": 120.0, "retry": QUICK, **options}
    return OpenAIGenerator(MODEL_ALIAS, base_url=base_url, **options)


@pytest.fixture(scope="module")
def gen(llama_server_url):
    return generator(llama_server_url)


@pytest.fixture(scope="module")
def greedy(gen):
    """The greedy completion of PROMPT: every other path must reproduce it."""
    return gen.generate(PROMPT, 48)


@pytest.fixture()
def proxy(llama_server_url):
    parts = urlsplit(llama_server_url)
    with FaultProxy(f"http://{parts.netloc}") as p:
        yield p


def test_generate_honours_max_new_tokens_stop_and_temperature(gen, greedy):
    assert len(greedy.split()) >= 8
    short = gen.generate(PROMPT, 6)
    assert short and len(short) < len(greedy) and greedy.startswith(short)
    words = greedy.split()
    stop_word = next(w for w in words[len(words) // 2:] if len(w) >= 4 and w.isalpha())
    cut = gen.generate(PROMPT, 48, stop=[stop_word])
    assert stop_word not in cut and cut.rstrip() == greedy[: greedy.index(stop_word)].rstrip()
    samples = {gen.generate(PROMPT, 24, temperature=1.5) for _ in range(3)}
    assert samples - {gen.generate(PROMPT, 24)}, "sampling at temperature 1.5 never left the greedy path"


async def test_stream_async_and_astream_match_generate(gen, greedy):
    pieces = list(gen.stream(PROMPT, 48))
    assert len(pieces) > 5 and "".join(pieces) == greedy
    assert await gen.agenerate(PROMPT, 48) == greedy
    apieces = [p async for p in gen.astream(PROMPT, 48)]
    assert len(apieces) > 5 and "".join(apieces) == greedy


def test_faults_429_and_500_are_retried(proxy, greedy, caplog):
    gen = generator(proxy.url + "/v1", retry=RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2))
    proxy.inject(Fault(429, {"Retry-After": "0.3"}), Fault(500), Fault(503))
    assert gen.generate(PROMPT, 48) == greedy
    assert len(proxy.requests) == 4
    assert [r.retry_delay for r in caplog.records if hasattr(r, "retry_delay")][0] == 0.3
    proxy.inject(*[Fault(500)] * 4)
    with pytest.raises(GenerationError, match="after 4 attempts: HTTP 500"):
        gen.generate(PROMPT, 48)


def test_stream_dropped_mid_way_is_resumed(proxy, greedy):
    gen = generator(proxy.url + "/v1")
    assert "".join(gen.stream(PROMPT, 48)) == greedy
    whole = proxy.requests[0].response_bytes
    proxy.reset()
    proxy.inject(Fault(drop_after=whole // 2))  # half of the pieces reach the caller, then the cut
    pieces = list(gen.stream(PROMPT, 48))
    assert "".join(pieces) == greedy  # nothing repeated, nothing lost
    assert [r.response_bytes for r in proxy.requests] == [whole // 2, whole]


async def test_slow_response_past_the_timeout(proxy, greedy):
    gen = generator(proxy.url + "/v1", timeout=2.0, retry=RetryPolicy(max_attempts=2, base_delay=0.05))
    proxy.inject(Fault(delay=3.0))
    short = await gen.agenerate(PROMPT, 4)  # the retry answers in time
    assert short and greedy.startswith(short) and len(proxy.requests) == 2
    proxy.inject(Fault(delay=3.0), Fault(delay=3.0))
    with pytest.raises(GenerationError, match="after 2 attempts: no answer within the 2 s timeout"):
        gen.generate(PROMPT, 4)


def test_azure_request_shape_on_the_local_server(llama_server_url, greedy):
    parts = urlsplit(llama_server_url)
    with FaultProxy(f"http://{parts.netloc}", azure=True, azure_api_version="2024-10-21") as azure:
        gen = OpenAIGenerator(azure_deployment=MODEL_ALIAS, azure_endpoint=azure.url, api_version="2024-10-21",
                              api_key=API_KEY, context_window=4096, retry=QUICK)
        assert gen.generate(PROMPT, 48) == greedy
        assert "".join(gen.stream(PROMPT, 48)) == greedy
        sent = azure.requests[0]
        assert sent.path == f"/openai/deployments/{MODEL_ALIAS}/chat/completions"
        assert sent.query["api-version"] == ["2024-10-21"] and sent.headers["api-key"] == API_KEY


def test_wrong_key_fails_at_once_without_showing_it(proxy):
    wrong = "sk-wrong-key-0000000000"
    gen = generator(proxy.url + "/v1", api_key=wrong)
    with pytest.raises(GenerationError, match="HTTP 401.*check the API key") as info:
        gen.generate(PROMPT, 8)
    assert wrong not in str(info.value) and len(proxy.requests) == 1


@pytest.fixture(scope="module")
def recording(llama_server_url):
    parts = urlsplit(llama_server_url)
    with FaultProxy(f"http://{parts.netloc}") as p:
        yield p


@pytest.fixture(scope="module")
def engine(recording):
    lm = generator(recording.url + "/v1")
    engine = MemoRAG(PromptMemory(lm, max_memory_tokens=2500), DenseRetriever(chunk_tokens=64, chunk_overlap=8),
                     generator=lm, progress=False, clue_tokens=32, answer_tokens=32, k=3)
    text = language_reference_slice(("break", "continue", "pass"))
    return engine.memorize(Document(text, "langref"))


QUESTION = "How do I leave a loop before it finishes?"


async def test_memorag_pipeline_over_the_server(engine):
    assert not engine.memory.gists, "the text was meant to fit the memory verbatim"
    answer = engine.answer(QUESTION)
    assert answer.text and answer.clues is not None  # the memory was asked; its lines may all be filler
    assert answer.evidence and any("break" in ev.text for ev in answer.evidence)
    assert "".join(engine.stream(QUESTION)).strip() == answer.text
    again = await engine.aanswer(QUESTION)
    assert again.text == answer.text and again.evidence == answer.evidence


def test_memory_prefix_is_byte_identical_across_queries(engine, recording):
    recording.reset()
    engine.expand(QUESTION)
    engine.expand("Which statement skips to the next iteration?")
    context = engine.memory.context
    memory_calls = [r for r in recording.requests if context[:200] in r.json()["messages"][0]["content"]]
    assert len(memory_calls) >= 4
    instructions = {r.json()["messages"][-1]["content"] for r in memory_calls}
    assert len(instructions) >= 4, "the calls were meant to differ in their instruction"
    # Everything before the instruction is the same bytes on the wire, so the server's prefix
    # cache can reuse it; only the last message differs.
    heads = {r.body[: r.body.rindex(b'"role"')] for r in memory_calls}
    assert len(heads) == 1
    head = heads.pop()  # '{..., "messages": [{memory}, {ack}, {' : close it to read it back
    sent = json.loads(head.rstrip(b"{").rstrip(b", ") + b"]}")
    assert sent["messages"] == engine.memory.messages("any instruction")[:2]
    assert context in sent["messages"][0]["content"]


def test_saved_corpus_loads_with_the_same_generator(engine, tmp_path):
    folder = engine.save(tmp_path / "corpus")
    manifest = (folder / "manifest.json").read_text()
    assert f"openai:{MODEL_ALIAS}@127.0.0.1" in manifest and API_KEY not in manifest
    loaded = MemoRAG.load(folder, generator=engine.generator, progress=False, clue_tokens=32, answer_tokens=32, k=3)
    assert loaded.memory.context == engine.memory.context
    assert loaded.answer(QUESTION, task="qa").text == engine.answer(QUESTION, task="qa").text


def test_gisting_over_the_server(llama_server_url, tmp_path):
    lm = generator(llama_server_url, concurrency=3)
    memory = PromptMemory(lm, max_memory_tokens=200, gist_chunk_tokens=128, gist_tokens=24)
    memory.compressor.cache = GistCache(tmp_path)  # empty: every gist is written by the server
    text = language_reference_slice(("break", "continue", "pass"))
    memory.memorize([Document(text, "langref")], progress=False)
    assert len(memory.gists) >= 2 and all(g.gist.strip() for g in memory.gists)
    assert lm.count_tokens(memory.context) <= 200
    assert memory.generate("In one sentence, what is this text about?", 32).strip()
