"""A real OpenAI-compatible server for tests: ``python -m llama_cpp.server`` on loopback with the
embedded default GGUF (SmolLM2-135M-Instruct).

``LlamaServer`` starts one and stops it (a context manager); ``shared_llama_server()`` starts one
per test process, stopped at exit, so every test module that uses the ``llama_server_url`` fixture
(``from llama_server import llama_server_url``) talks to the same server.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

MODEL_ALIAS = "smollm2-135m-instruct"
API_KEY = "sk-loopback-test-key-7f3a9c"  # the server demands it, so tests see real auth


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``with LlamaServer() as server:`` then ``server.base_url`` (ends in ``/v1``)."""

    def __init__(self, model: str | os.PathLike | None = None, *, n_ctx: int = 4096, n_threads: int = 2,
                 n_batch: int = 1, cache: bool = True, api_key: str | None = API_KEY,
                 startup_timeout: float = 180.0) -> None:
        if model is None:
            from memorag_integrations.models import DEFAULT_LM, EMBEDDED

            model = EMBEDDED[DEFAULT_LM].locate()
        self.model = Path(model)
        # n_batch=1 makes answers reproducible: the server reuses the cached KV of the longest
        # prefix shared with the previous request, and a prompt read in one batch gives slightly
        # other logits than the same prompt read token by token, enough to change a greedy answer.
        # Read one token at a time, a prompt gives the same logits whatever was cached.
        self.n_ctx, self.n_threads, self.n_batch, self.api_key = n_ctx, n_threads, n_batch, api_key
        # cache=True keeps the KV state of recent prompts in RAM, like the prefix caches of vLLM
        # and llama.cpp's own server: prompts that alternate (memory, then generator) both stay warm.
        self.cache = cache
        self.startup_timeout = startup_timeout
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
                   "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
                   "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads),
                   "--n_threads_batch", str(self.n_threads), "--n_batch", str(self.n_batch),
                   "--n_ubatch", str(self.n_batch), "--cache", str(self.cache).lower(), "--verbose", "false",
                   # Concurrent requests queue instead of cutting each other's streams short.
                   "--interrupt_requests", "false"]
        if self.api_key:
            command += ["--api_key", self.api_key]
        # llama.cpp's OpenMP threads spin while they wait; on a busy machine with few cores that
        # makes a 16-token answer take a minute instead of a second. Passive waiting avoids it.
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        request = urllib.request.Request(f"{self.base_url}/models",
                                         headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200 and json.load(response)["data"]:
                        return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"llama_cpp.server was not ready within {self.startup_timeout:g} s:\n{self.output()}")

    def output(self, tail: int = 4000) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-tail:]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


_shared: LlamaServer | None = None


def shared_llama_server() -> LlamaServer:
    """One server per test process, started on first use and stopped when the process exits."""
    global _shared
    if _shared is None:
        pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (extra 'llamacpp')")
        _shared = LlamaServer().start()
        atexit.register(_shared.stop)
    return _shared


@pytest.fixture(scope="session")
def llama_server_url() -> str:
    """The ``base_url`` of the shared loopback llama.cpp server (skips when llama_cpp is missing)."""
    return shared_llama_server().base_url
