"""Any OpenAI-compatible chat server as a text generator: OpenAI, Azure OpenAI, DeepSeek, vLLM,
SGLang, llama.cpp server, Ollama. Retries are ours (see :mod:`memorag_integrations.llm.retry`)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from memorag_integrations.errors import InvalidInputError, require
from memorag_integrations.llm.base import Prompt, TextGenerator, as_messages, cut_at_stop
from memorag_integrations.llm.retry import Failure, RetryPolicy, parse_retry_after

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Provider:
    base_url: str
    key_env: str


PROVIDERS = {
    "openai": Provider("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "deepseek": Provider("https://api.deepseek.com", "DEEPSEEK_API_KEY"),
}
AZURE_KEY_ENV = "AZURE_OPENAI_API_KEY"
AZURE_ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
AZURE_VERSION_ENV = "OPENAI_API_VERSION"
NO_KEY = "no-key"  # local servers usually want none, but the SDK insists on one


class _Secret:
    """Holds the API key; its repr never shows it."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "'***'"


class _Truncated(Exception):
    """The stream ended without a finish reason: the connection closed early."""


class _Diverged(Exception):
    """A resumed stream did not repeat the text already delivered."""


class OpenAIGenerator(TextGenerator):
    """Chat completions from an OpenAI-compatible server.

    - OpenAI: ``OpenAIGenerator("gpt-4o-mini")`` (key from ``OPENAI_API_KEY`` or ``api_key=``).
    - DeepSeek: ``OpenAIGenerator("deepseek-chat", provider="deepseek")`` (``DEEPSEEK_API_KEY``).
    - Azure OpenAI: ``OpenAIGenerator(azure_deployment="gpt4o", azure_endpoint="https://x.openai.azure.com",
      api_version="2024-10-21")`` (``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_ENDPOINT``, ``OPENAI_API_VERSION``).
    - Any server: ``OpenAIGenerator("served-model-name", base_url="http://localhost:8000/v1")``.

    Servers do not report their window, so ``context_window`` (tokens) is given here; it sizes the
    prompt memory. ``timeout`` bounds the wait for the first byte and between streamed pieces.
    Failed calls are retried by ``retry`` (429, 408, 409, 5xx, timeouts, dropped connections); a
    stream cut mid-way is resumed when the retry repeats the text already delivered (greedy
    decoding does), else it fails. ``token_limit_param="max_completion_tokens"`` suits OpenAI's
    reasoning models; ``extra_body`` passes server-specific options (e.g. vLLM's ``top_k``).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        provider: str | None = None,
        azure_endpoint: str | None = None,
        azure_deployment: str | None = None,
        api_version: str | None = None,
        context_window: int = 8192,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 4,
        token_limit_param: str = "max_tokens",
        extra_body: dict[str, Any] | None = None,
        token_counter: Callable[[str], int] | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        require("openai", "openai", "OpenAIGenerator")
        if azure_endpoint or azure_deployment or provider == "azure":
            self.provider = "azure"
            self.model = azure_deployment or model or ""
            self.base_url = azure_endpoint or os.environ.get(AZURE_ENDPOINT_ENV, "")
            self.api_version: str | None = api_version or os.environ.get(AZURE_VERSION_ENV, "")
            key_env = AZURE_KEY_ENV
            missing = [what for what, value in (("azure_deployment=", self.model),
                                                (f"azure_endpoint= (or ${AZURE_ENDPOINT_ENV})", self.base_url),
                                                (f"api_version= (or ${AZURE_VERSION_ENV})", self.api_version))
                       if not value]
            if missing:
                raise InvalidInputError(f"Azure OpenAI needs {', '.join(missing)}")
        else:
            if provider is not None and provider not in PROVIDERS:
                raise InvalidInputError(f"unknown provider {provider!r}: use one of {sorted(PROVIDERS)} or 'azure', "
                                        "or give base_url= for any other OpenAI-compatible server")
            preset = PROVIDERS[provider or "openai"]
            self.provider = provider or "openai"
            self.model = model or ""
            self.base_url = base_url or preset.base_url
            self.api_version = None
            key_env = preset.key_env
            if not self.model:
                raise InvalidInputError("name the model: OpenAIGenerator('gpt-4o-mini'), or the name the server "
                                        "serves (GET <base_url>/models lists them)")
        key = api_key or os.environ.get(key_env)
        if not key:
            if self.provider == "azure" or base_url is None:
                raise InvalidInputError(f"no API key for {self.provider}: set ${key_env} or pass api_key=")
            key = NO_KEY
        self._key = _Secret(key)
        self.key_env = key_env
        if context_window < 256:
            raise InvalidInputError(f"context_window is the model's window in tokens, got {context_window}")
        self.context_window = int(context_window)
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self.concurrency = max(1, int(concurrency))
        self.token_limit_param = token_limit_param
        self.extra_body = dict(extra_body or {})
        self._token_counter = token_counter
        self._client_options = dict(client_options or {})
        self.host = urlsplit(self.base_url).hostname or self.base_url
        # The identity names model and host (never the key): saved manifests are checked against it.
        self.identity = f"{self.provider}:{self.model}@{self.host}"
        self.client = self._make_client(asynchronous=False)
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # -- clients -----------------------------------------------------------------------------
    def _make_client(self, asynchronous: bool):
        openai = require("openai", "openai", "OpenAIGenerator")
        # Our RetryPolicy owns retries, so the SDK's own are off.
        common = {"api_key": self._key.value, "timeout": self.timeout, "max_retries": 0, **self._client_options}
        if self.provider == "azure":
            cls = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
            return cls(azure_endpoint=self.base_url, azure_deployment=self.model, api_version=self.api_version,
                       **common)
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(base_url=self.base_url, **common)

    def _async_client(self):
        # An async client's connections belong to one event loop: keep one client per loop.
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = self._make_client(asynchronous=True)
        return client

    def close(self) -> None:
        """Close the HTTP connections (the generator stays usable: they reopen on demand)."""
        self.client.close()
        self._async_clients.clear()

    # -- requests ----------------------------------------------------------------------------
    def _request(self, prompt: Prompt, max_new_tokens: int, temperature: float,
                 stop: Sequence[str] | None, stream: bool) -> dict[str, Any]:
        if max_new_tokens < 1:
            raise InvalidInputError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        request: dict[str, Any] = {"model": self.model, "messages": as_messages(prompt),
                                   "temperature": temperature, self.token_limit_param: max_new_tokens}
        if stop:
            request["stop"] = list(stop)
        if stream:
            request["stream"] = True
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    def generate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                 stop: Sequence[str] | None = None) -> str:
        request = self._request(prompt, max_new_tokens, temperature, stop, stream=False)
        text = self.retry.run(lambda: _text(self.client.chat.completions.create(**request)), self._classify,
                              self._what("chat completion"))
        return cut_at_stop(text, stop)

    async def agenerate(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                        stop: Sequence[str] | None = None) -> str:
        request = self._request(prompt, max_new_tokens, temperature, stop, stream=False)
        client = self._async_client()

        async def call() -> str:
            return _text(await client.chat.completions.create(**request))

        return cut_at_stop(await self.retry.arun(call, self._classify, self._what("chat completion")), stop)

    def generate_batch(self, prompts: Sequence[Prompt], max_new_tokens: int = 256) -> list[str]:
        """Up to ``concurrency`` requests at a time (servers batch concurrent requests)."""
        if len(prompts) <= 1 or self.concurrency == 1:
            return [self.generate(p, max_new_tokens) for p in prompts]
        with ThreadPoolExecutor(min(self.concurrency, len(prompts))) as pool:
            return list(pool.map(lambda p: self.generate(p, max_new_tokens), prompts))

    def stream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
               stop: Sequence[str] | None = None) -> Iterator[str]:
        request = self._request(prompt, max_new_tokens, temperature, stop, stream=True)
        resume, attempt, what = _Resume(), 0, self._what("streamed chat completion")
        while True:
            attempt += 1
            resume.restart()
            try:
                with self.client.chat.completions.create(**request) as chunks:
                    finished = False
                    for chunk in chunks:
                        piece, done = _delta(chunk)
                        finished = finished or done
                        if new := resume.take(piece):
                            yield new
                    if not finished:
                        raise _Truncated
                return
            except Exception as exc:
                failure = self._classify(exc)
            time.sleep(self.retry.next_delay(failure, attempt, what))

    async def astream(self, prompt: Prompt, max_new_tokens: int = 256, *, temperature: float = 0.0,
                      stop: Sequence[str] | None = None) -> AsyncIterator[str]:
        request = self._request(prompt, max_new_tokens, temperature, stop, stream=True)
        client = self._async_client()
        resume, attempt, what = _Resume(), 0, self._what("streamed chat completion")
        while True:
            attempt += 1
            resume.restart()
            try:
                async with await client.chat.completions.create(**request) as chunks:
                    finished = False
                    async for chunk in chunks:
                        piece, done = _delta(chunk)
                        finished = finished or done
                        if new := resume.take(piece):
                            yield new
                    if not finished:
                        raise _Truncated
                return
            except Exception as exc:
                failure = self._classify(exc)
            await asyncio.sleep(self.retry.next_delay(failure, attempt, what))

    def count_tokens(self, text: str) -> int:
        return self._token_counter(text) if self._token_counter else super().count_tokens(text)

    # -- failures ----------------------------------------------------------------------------
    def _what(self, call: str) -> str:
        return f"{call} from {self.identity}"

    def _redact(self, text: str) -> str:
        key = self._key.value
        return text.replace(key, "***") if key and key != NO_KEY else text

    def _classify(self, exc: Exception) -> Failure:
        openai = require("openai", "openai", "OpenAIGenerator")
        if isinstance(exc, openai.APITimeoutError):
            return Failure(f"no answer within the {self.timeout:g} s timeout", True)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return Failure(self._redact(f"could not reach {self.base_url} ({type(cause).__name__}: {cause})"), True)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            retryable = status in (408, 409, 429) or status >= 500
            retry_after = parse_retry_after(exc.response.headers) if retryable else None
            message = f"HTTP {status}: {_server_message(exc)}{self._hint(status)}"
            return Failure(self._redact(message), retryable, retry_after)
        if isinstance(exc, _Truncated) or _is_transport_error(exc):
            return Failure(f"the connection dropped mid-response ({type(exc).__name__})", True)
        if isinstance(exc, _Diverged):
            return Failure(str(exc), False)
        return Failure(self._redact(f"{type(exc).__name__}: {exc}"), False)

    def _hint(self, status: int) -> str:
        if status in (401, 403):
            return f" (check the API key: ${self.key_env} or api_key=)"
        if status == 404:
            what = "deployment, endpoint and api_version" if self.provider == "azure" else "model name and base_url"
            return f" (check the {what})"
        return ""

    def __repr__(self) -> str:
        return (f"OpenAIGenerator(identity={self.identity!r}, base_url={self.base_url!r}, "
                f"context_window={self.context_window})")


class _Resume:
    """Joins the attempts of one stream: after a retry, the text already delivered is skipped."""

    def __init__(self) -> None:
        self.sent = ""   # delivered to the caller, over all attempts
        self.fresh = ""  # received in the current attempt

    def restart(self) -> None:
        self.fresh = ""

    def take(self, piece: str) -> str:
        """What of ``piece`` is new to the caller."""
        if not piece:
            return ""
        self.fresh += piece
        n = min(len(self.fresh), len(self.sent))
        if self.fresh[:n] != self.sent[:n]:
            raise _Diverged(f"the stream broke after {len(self.sent)} characters and the retry wrote different "
                            "text, so it cannot be resumed; use temperature=0 or generate()")
        if len(self.fresh) <= len(self.sent):
            return ""
        new = self.fresh[len(self.sent):]
        self.sent = self.fresh
        return new


def _text(response: Any) -> str:
    if not getattr(response, "choices", None):
        raise ValueError("the server answered without any choice")
    return response.choices[0].message.content or ""


def _delta(chunk: Any) -> tuple[str, bool]:
    """``(text, finished)`` of one streamed chunk (usage-only chunks have no choices)."""
    if not chunk.choices:
        return "", False
    choice = chunk.choices[0]
    text = (choice.delta.content if choice.delta is not None else None) or ""
    return text, choice.finish_reason is not None


def _server_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            return str(message)[:500]
    return str(exc.message)[:500]


def _is_transport_error(exc: Exception) -> bool:
    # Errors while reading a stream come from the SDK's HTTP library unwrapped (httpx2, or httpx
    # for older SDKs).
    return any(isinstance(exc, module.TransportError)
               for name in ("httpx2", "httpx") if (module := sys.modules.get(name)) is not None)
