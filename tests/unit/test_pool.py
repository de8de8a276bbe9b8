"""PooledGenerator: one generator over several servers of a model (fakes with delays, real threads)."""

import threading
import time

import pytest

from memorag_integrations import InvalidInputError, PromptMemory
from memorag_integrations.llm.base import TextGenerator
from memorag_integrations.llm.pool import PooledGenerator


class Member(TextGenerator):
    """Answers ``name:prompt`` after ``delay`` seconds; counts how many calls run at once."""

    def __init__(self, name, delay=0.0, identity="model-x", fail_on=None, **attrs):
        self.name, self.delay, self.identity, self.fail_on = name, delay, identity, fail_on
        self.served, self.active, self.peak = [], 0, 0
        self.lock = threading.Lock()
        for key, value in attrs.items():
            setattr(self, key, value)

    def generate(self, prompt, max_new_tokens=256, *, temperature=0.0, stop=None):
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.delay)
            if prompt == self.fail_on:
                raise RuntimeError(f"{self.name} failed")
            self.served.append(prompt)
            return f"{self.name}:{prompt}"
        finally:
            with self.lock:
                self.active -= 1


def test_a_batch_is_spread_over_every_member_and_comes_back_in_order():
    fast, slow = Member("fast", 0.01), Member("slow", 0.05)
    pool = PooledGenerator([fast, slow], concurrency=2)
    prompts = [f"p{i}" for i in range(24)]
    out = pool.generate_batch(prompts)
    assert [o.split(":", 1)[1] for o in out] == prompts
    assert sorted(fast.served + slow.served) == sorted(prompts)
    assert len(fast.served) > len(slow.served) > 0  # the faster server takes more
    assert fast.peak <= 2 and slow.peak <= 2 and max(fast.peak, slow.peak) == 2
    assert pool.concurrency == 4


def test_single_calls_take_turns_and_a_failure_is_raised():
    a, b = Member("a"), Member("b", fail_on="bad")
    pool = PooledGenerator([a, b])
    assert [pool.generate("q").split(":")[0] for _ in range(4)] == ["a", "b", "a", "b"]
    with pytest.raises(RuntimeError, match="b failed"):
        PooledGenerator([Member("a", 0.02), b], concurrency=1).generate_batch(["x", "bad", "y", "z"])


def test_the_pool_names_its_model_not_its_hosts():
    assert PooledGenerator([Member("a"), Member("b")]).identity == "model-x"
    servers = [Member(n, identity=f"openai:smollm@{n}", provider="openai", model="smollm") for n in ("h1", "h2")]
    assert PooledGenerator(servers).identity == "openai:smollm@pool"
    with pytest.raises(InvalidInputError, match="not one model"):
        PooledGenerator([Member("a", identity="m1"), Member("b", identity="m2")])
    assert PooledGenerator([Member("a", identity="m1"), Member("b", identity="m2")], identity="mine").identity == "mine"
    for bad in ([], ["not a generator"]):
        with pytest.raises(InvalidInputError):
            PooledGenerator(bad)
    with pytest.raises(InvalidInputError, match="concurrency"):
        PooledGenerator([Member("a")], concurrency=0)


def test_a_prompt_memory_gists_as_many_sections_at_once_as_the_pool_serves():
    pool = PooledGenerator([Member("a", concurrency=3), Member("b", concurrency=2)])
    assert pool.slots == [3, 2] and PromptMemory(pool).compressor.batch_size == 5
    assert PromptMemory(Member("a")).compressor.batch_size == 4
    assert PromptMemory(pool, batch_size=2).compressor.batch_size == 2
