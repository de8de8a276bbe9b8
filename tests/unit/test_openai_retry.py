"""The OpenAI-compatible generator's retry policy, over real HTTP: the fault proxy in front of a
small loopback chat server (stdlib only), so these run in seconds without llama.cpp."""

from __future__ import annotations

import json
import logging
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from random import Random

import pytest

pytest.importorskip("openai", reason="needs the openai package (extra 'openai')")

from fault_proxy import Fault, FaultProxy  # noqa: E402

from memorag_integrations.errors import GenerationError, InvalidInputError  # noqa: E402
from memorag_integrations.llm.openai import OpenAIGenerator  # noqa: E402
from memorag_integrations.llm.retry import Failure, RetryPolicy, parse_retry_after  # noqa: E402

KEY = "sk-test-0123456789abcdef"
QUICK = dict(base_delay=0.01, max_delay=0.05)


class ChatStub:
    """A tiny chat-completions server: answers ``echo <last message>`` word by word.

    With temperature > 0 the answer starts with a request counter, so two samples differ.
    """

    def __init__(self) -> None:
        self.count = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.count += 1
                words = ["echo", *request["messages"][-1]["content"].split()]
                if request.get("temperature", 0) > 0:
                    words.insert(0, f"#{stub.count}")
                words = words[: request.get("max_tokens") or request.get("max_completion_tokens") or 256]
                if request.get("stream"):
                    self._stream(words)
                else:
                    self._json({"id": "x", "object": "chat.completion", "created": 0, "model": request["model"],
                                "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": " ".join(words)}}]})

            def _json(self, payload) -> None:
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, words) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = [(w if i == 0 else " " + w, None) for i, w in enumerate(words)] + [("", "stop")]
                for text, finish in pieces:
                    chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "stub",
                             "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}
                    self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self.wfile.write(b"0\r\n\r\n")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def stub():
    server = ChatStub()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture()
def proxy(stub):
    with FaultProxy(stub.url) as p:
        yield p


def make(proxy, **options) -> OpenAIGenerator:
    retry = options.pop("retry", RetryPolicy(max_attempts=3, **QUICK))
    return OpenAIGenerator("stub-model", base_url=proxy.url + "/v1", api_key=KEY, retry=retry,
                           timeout=options.pop("timeout", 5.0), **options)


def retry_delays(caplog) -> list[float]:
    return [r.retry_delay for r in caplog.records if hasattr(r, "retry_delay")]


# -- the policy on its own ---------------------------------------------------------------------
def test_backoff_doubles_up_to_the_cap_and_jitter_only_shortens():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.5, rng=Random(7))
    ceilings = [1, 2, 4, 8, 8]
    for attempt, ceiling in enumerate(ceilings, 1):
        samples = [policy.backoff(attempt) for _ in range(50)]
        assert all(ceiling * 0.5 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1, "jitter must spread the waits"
    assert [RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0).backoff(a) for a in (1, 2, 3, 4, 5)] == ceilings


def test_policy_decisions():
    policy = RetryPolicy(max_attempts=3, max_retry_after=10, jitter=0)
    assert policy.next_delay(Failure("busy", True, retry_after=3), 1, "call") == 3
    assert policy.next_delay(Failure("busy", True), 2, "call") == policy.base_delay * 2
    with pytest.raises(GenerationError, match="call failed after 3 attempts: busy"):
        policy.next_delay(Failure("busy", True), 3, "call")
    with pytest.raises(GenerationError, match="call failed: bad request"):
        policy.next_delay(Failure("bad request", False), 1, "call")
    with pytest.raises(GenerationError, match="retry after 30 s, more than max_retry_after=10"):
        policy.next_delay(Failure("busy", True, retry_after=30), 1, "call")
    for bad in (dict(max_attempts=0), dict(jitter=2), dict(base_delay=-1)):
        with pytest.raises(InvalidInputError):
            RetryPolicy(**bad)


def test_parse_retry_after():
    assert parse_retry_after({"Retry-After": "7"}) == 7
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=1445412500.0) == 10
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


# -- over HTTP ---------------------------------------------------------------------------------
def test_request_carries_tokens_temperature_stop_and_key(proxy):
    gen = make(proxy)
    assert gen.generate("one two three four five", 3, temperature=0.0, stop=["\n\n"]) == "echo one two"
    sent = proxy.requests[-1]
    body = sent.json()
    assert sent.path == "/v1/chat/completions" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert body["max_tokens"] == 3 and body["temperature"] == 0.0 and body["stop"] == ["\n\n"]
    assert body["messages"] == [{"role": "user", "content": "one two three four five"}]
    assert make(proxy, token_limit_param="max_completion_tokens").generate("a b c", 2) == "echo a"
    assert proxy.requests[-1].json()["max_completion_tokens"] == 2
    assert gen.generate("alpha beta gamma", stop=["gamma"]) == "echo alpha beta "


def test_429_waits_as_long_as_retry_after_says(proxy, caplog):
    caplog.set_level(logging.WARNING)
    # A backoff this long would show up at once: the wait must come from the header.
    gen = make(proxy, retry=RetryPolicy(max_attempts=3, base_delay=30, max_delay=30))
    proxy.inject(Fault(429, {"Retry-After": "0.2"}), Fault(429, {"retry-after-ms": "50"}))
    assert gen.generate("hello") == "echo hello"
    assert len(proxy.requests) == 3
    assert retry_delays(caplog) == [0.2, 0.05]


def test_retry_after_beyond_the_limit_fails_at_once(proxy):
    gen = make(proxy, retry=RetryPolicy(max_attempts=5, max_retry_after=2, **QUICK))
    proxy.inject(Fault(429, {"Retry-After": "120"}))
    with pytest.raises(GenerationError, match="retry after 120 s"):
        gen.generate("hello")
    assert len(proxy.requests) == 1


def test_500s_back_off_then_succeed(proxy, caplog):
    caplog.set_level(logging.WARNING)
    gen = make(proxy)
    proxy.inject(Fault(500), Fault(503))
    assert gen.generate("hello there") == "echo hello there"
    assert len(proxy.requests) == 3
    first, second = retry_delays(caplog)
    assert 0.005 <= first <= 0.01 and 0.01 <= second <= 0.02


def test_last_failure_is_a_clear_error(proxy):
    gen = make(proxy)
    proxy.inject(*[Fault(502, body=b'{"error": {"message": "upstream down"}}')] * 3)
    with pytest.raises(GenerationError) as info:
        gen.generate("hello")
    message = str(info.value)
    assert "after 3 attempts" in message and "HTTP 502" in message and "upstream down" in message
    assert "openai:stub-model@127.0.0.1" in message
    assert len(proxy.requests) == 3


def test_client_errors_are_not_retried(proxy):
    gen = make(proxy)
    proxy.inject(Fault(400, body=b'{"error": {"message": "context length exceeded"}}'))
    with pytest.raises(GenerationError, match="HTTP 400: context length exceeded"):
        gen.generate("hello")
    proxy.inject(Fault(404))
    with pytest.raises(GenerationError, match="check the model name and base_url"):
        gen.generate("hello")
    assert len(proxy.requests) == 2


def test_slow_response_times_out_and_is_retried(proxy):
    gen = make(proxy, timeout=0.3, retry=RetryPolicy(max_attempts=2, **QUICK))
    proxy.inject(Fault(delay=1.0))
    assert gen.generate("late") == "echo late"
    proxy.reset()
    proxy.inject(Fault(delay=1.0), Fault(delay=1.0))
    with pytest.raises(GenerationError, match="after 2 attempts: no answer within the 0.3 s timeout"):
        gen.generate("late")
    assert len(proxy.requests) == 2


def test_connection_refused_is_retried_then_reported():
    gen = OpenAIGenerator("m", base_url="http://127.0.0.1:9/v1", retry=RetryPolicy(max_attempts=2, **QUICK))
    with pytest.raises(GenerationError, match="after 2 attempts: could not reach http://127.0.0.1:9/v1"):
        gen.generate("hello")


def test_dropped_connection_mid_response_is_retried(proxy):
    gen = make(proxy)
    proxy.inject(Fault(drop_after=20))
    assert gen.generate("a b c") == "echo a b c"
    assert len(proxy.requests) == 2


def test_stream_dropped_mid_way_resumes_without_repeating(proxy):
    gen = make(proxy)
    whole = list(gen.stream("one two three four five six"))
    assert "".join(whole) == "echo one two three four five six" and len(whole) == 7
    size = proxy.requests[0].response_bytes
    proxy.reset()
    proxy.inject(Fault(drop_after=size // 2))  # about half of the pieces reach the caller first
    pieces = list(gen.stream("one two three four five six"))
    assert "".join(pieces) == "".join(whole)
    assert [r.response_bytes for r in proxy.requests] == [size // 2, size]


def test_stream_that_cannot_be_resumed_fails_clearly(proxy):
    gen = make(proxy)
    proxy.inject(Fault(drop_after=400))
    received = []
    with pytest.raises(GenerationError, match="retry wrote different text"):
        for piece in gen.stream("one two three four", temperature=0.8):
            received.append(piece)
    assert received and received[0].startswith("#")


async def test_async_generate_and_stream_retry(proxy, caplog):
    caplog.set_level(logging.WARNING)
    gen = make(proxy)
    proxy.inject(Fault(429, {"Retry-After": "0.1"}))
    assert await gen.agenerate("async hello") == "echo async hello"
    assert retry_delays(caplog) == [0.1]
    proxy.inject(Fault(500), Fault(drop_after=300))
    pieces = [p async for p in gen.astream("one two three four five")]
    assert "".join(pieces) == "echo one two three four five"
    assert len(proxy.requests) == 5


def test_batch_runs_concurrently_and_keeps_order(proxy):
    gen = make(proxy, concurrency=3)
    prompts = [f"item {i}" for i in range(7)]
    assert gen.generate_batch(prompts, 8) == [f"echo item {i}" for i in range(7)]


def test_azure_request_shape(proxy, stub):
    with FaultProxy(stub.url, azure=True, azure_api_version="2024-10-21") as azure:
        gen = OpenAIGenerator(azure_deployment="gpt4o-prod", azure_endpoint=azure.url, api_version="2024-10-21",
                              api_key=KEY, retry=RetryPolicy(max_attempts=2, **QUICK))
        assert gen.generate("hi azure") == "echo hi azure"
        assert "".join(gen.stream("hi stream")) == "echo hi stream"
        sent = azure.requests[0]
        assert sent.path == "/openai/deployments/gpt4o-prod/chat/completions"
        assert sent.query["api-version"] == ["2024-10-21"] and sent.headers["api-key"] == KEY
        assert "authorization" not in sent.headers
        assert gen.identity == "azure:gpt4o-prod@127.0.0.1"


def test_key_never_shows_in_errors_reprs_or_logs(proxy, caplog):
    caplog.set_level(logging.DEBUG)
    gen = make(proxy)
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {KEY}"}}).encode()
    proxy.inject(Fault(401, body=echo), Fault(500, body=echo), Fault(500, body=echo), Fault(500, body=echo))
    with pytest.raises(GenerationError) as unauthorized:
        gen.generate("hello")
    with pytest.raises(GenerationError) as exhausted:
        gen.generate("hello")
    assert proxy.requests[0].headers["authorization"] == f"Bearer {KEY}"  # the key was really sent
    assert "check the API key" in str(unauthorized.value) and "***" in str(unauthorized.value)
    for err in (unauthorized.value, exhausted.value):
        assert KEY not in "".join(traceback.format_exception(err))
    assert KEY not in repr(gen) and KEY not in str(vars(gen)) and KEY not in gen.identity
    assert caplog.records and KEY not in caplog.text
    assert all(KEY not in str(r.args) for r in caplog.records)


def test_configuration_errors(monkeypatch):
    for name in ("OPENAI_API_KEY", "DEEPSEEK_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT",
                 "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InvalidInputError, match=r"set \$OPENAI_API_KEY or pass api_key="):
        OpenAIGenerator("gpt-4o-mini")
    with pytest.raises(InvalidInputError, match="name the model"):
        OpenAIGenerator(base_url="http://127.0.0.1:1/v1")
    with pytest.raises(InvalidInputError, match="unknown provider"):
        OpenAIGenerator("m", provider="nope")
    with pytest.raises(InvalidInputError, match=r"api_version= \(or \$OPENAI_API_VERSION\)"):
        OpenAIGenerator(azure_deployment="d", azure_endpoint="https://x.openai.azure.com", api_key="k")
    monkeypatch.setenv("DEEPSEEK_API_KEY", KEY)
    deepseek = OpenAIGenerator("deepseek-chat", provider="deepseek", context_window=65536)
    assert deepseek.identity == "deepseek:deepseek-chat@api.deepseek.com" and deepseek.context_window == 65536
    assert str(deepseek.client.base_url).startswith("https://api.deepseek.com")
    with pytest.raises(InvalidInputError, match="max_new_tokens"):
        deepseek.generate("x", 0)
    local = OpenAIGenerator("served", base_url="http://127.0.0.1:1/v1")  # local servers need no key
    assert local.identity == "openai:served@127.0.0.1"
