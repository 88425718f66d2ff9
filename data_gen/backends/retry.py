"""Retrying transient failures of a remote LLM: exponential backoff with jitter.

The ``openai`` client can retry by itself, but its delays are fixed (0.5 s doubling to 8 s) and its
attempts are not counted; a run of hundreds of thousands of calls must ride out a server that
restarts for a minute, and report how often it retried. So the client is built with
``max_retries=0`` and calls go through :func:`call_with_retries`: attempt ``k`` (from 0) waits a
uniform draw from ``[d/2, d]`` with ``d = min(cap, base * 2**k)``, or the server's ``Retry-After``
when that is longer (capped at ``cap``).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import openai

T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 409, 425, 429})


class TransientReplyError(Exception):
    """A reply that carries no usable answer (no choices, no content): asked again like a 5xx."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        step = min(self.cap, self.base * 2**attempt)
        wait = rng.uniform(step / 2, step)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap))
        return wait


def is_retryable(err: BaseException) -> bool:
    """429, 408/409/425, 5xx, timeouts, dropped connections and unparseable bodies are transient."""
    transient = (openai.APIConnectionError, openai.APIResponseValidationError, json.JSONDecodeError, TransientReplyError)
    if isinstance(err, transient):
        return True  # APITimeoutError is an APIConnectionError
    if isinstance(err, openai.APIStatusError):
        return err.status_code in RETRY_STATUSES or err.status_code >= 500
    return False


def retry_after(err: BaseException) -> float | None:
    """Seconds asked for by the server's ``Retry-After`` (or ``retry-after-ms``) header."""
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        try:
            return float(headers[name]) * scale
        except (KeyError, TypeError, ValueError):
            continue
    return None


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    rng: random.Random | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """``await call()``, retrying transient errors up to ``policy.max_retries`` times."""
    rng = rng or random.Random()
    for attempt in range(policy.max_retries + 1):
        try:
            return await call()
        except Exception as err:
            if not is_retryable(err) or attempt == policy.max_retries:
                raise
            if on_retry is not None:
                on_retry(err)
            await asyncio.sleep(policy.delay(attempt, rng, retry_after(err)))
    raise AssertionError("unreachable")
