"""When and how long to retry a remote call: exponential backoff with jitter, honouring Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from memorag_integrations.errors import GenerationError, InvalidInputError

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    """What went wrong in one attempt, as the retry policy needs to know it."""

    message: str  # already free of secrets: it ends up in logs and errors
    retryable: bool
    retry_after: float | None = None  # seconds the server asked us to wait


@dataclass
class RetryPolicy:
    """Up to ``max_attempts`` tries; the n-th wait is ``base_delay * 2**(n-1)`` capped at
    ``max_delay``, shortened by a random fraction up to ``jitter`` so that many clients hit by the
    same outage do not come back in step. A server's ``Retry-After`` replaces the backoff; one
    longer than ``max_retry_after`` ends the retries at once (waiting less would only fail again).
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    jitter: float = 0.5
    max_retry_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidInputError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise InvalidInputError("base_delay, max_delay and max_retry_after must not be negative")
        if not 0 <= self.jitter <= 1:
            raise InvalidInputError(f"jitter is a fraction between 0 and 1, got {self.jitter}")

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), jitter included."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling * (1 - self.jitter * self.rng.random())

    def next_delay(self, failure: Failure, attempt: int, what: str) -> float:
        """Seconds to wait before the next attempt, or raise :class:`GenerationError` to give up."""
        tries = f" after {attempt} attempts" if attempt > 1 else ""
        if not failure.retryable or attempt >= self.max_attempts:
            raise GenerationError(f"{what} failed{tries}: {failure.message}")
        if failure.retry_after is None:
            delay = self.backoff(attempt)
        elif failure.retry_after > self.max_retry_after:
            raise GenerationError(
                f"{what} failed{tries}: the server asked to retry after {failure.retry_after:g} s, more than "
                f"max_retry_after={self.max_retry_after:g} s ({failure.message}); try again later or "
                "raise RetryPolicy.max_retry_after"
            )
        else:
            delay = failure.retry_after
        logger.warning("%s: %s; retrying in %.2f s (attempt %d of %d)", what, failure.message, delay,
                       attempt + 1, self.max_attempts, extra={"retry_delay": delay, "retry_attempt": attempt})
        return delay

    def run(self, call: Callable[[], T], classify: Callable[[Exception], Failure], what: str) -> T:
        """``call()`` until it succeeds; ``classify`` turns its exceptions into failures."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except Exception as exc:
                failure = classify(exc)
            # Decided outside the except block, so a final error does not chain the original
            # exception (whose text may hold what classify removed, like an echoed key).
            time.sleep(self.next_delay(failure, attempt, what))

    async def arun(self, call: Callable[[], Awaitable[T]], classify: Callable[[Exception], Failure],
                   what: str) -> T:
        """Async :meth:`run`."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except Exception as exc:
                failure = classify(exc)
            await asyncio.sleep(self.next_delay(failure, attempt, what))


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI's) or ``Retry-After`` (seconds or an HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        value = lowered.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value).timestamp()
            return max(0.0, when - (time.time() if now is None else now))
    except (TypeError, ValueError, OverflowError):
        return None  # an unreadable header means: use our own backoff
