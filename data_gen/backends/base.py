"""One interface for every LLM: :class:`Backend` generates, :class:`LLM` adds the cache and the
validation of replies with a bounded number of re-asks."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from .cache import ReplyCache, cache_key

T = TypeVar("T")
Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = 0


class InvalidReply(ValueError):
    """A reply that does not follow the instructions; the message says what is wrong."""


class Rejected(Exception):
    """An item (or part of it) that cannot become a pair: ``reason`` is counted in the stats."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class LLMUnavailable(Exception):
    """The backend kept failing after its retries; the item is left for the next run."""


class Backend(ABC):
    """Generates one reply for a chat; transient failures are retried inside."""

    name = "backend"

    def __init__(self, model: str):
        self.model = model

    @abstractmethod
    async def generate(self, messages: Messages, sampling: Sampling) -> str: ...

    async def aclose(self) -> None:
        pass


REASK = (
    "Your reply cannot be used: {problem}. Answer the previous request again, following its "
    "instructions exactly."
)


class LLM:
    """A backend behind a reply cache, with replies parsed and re-asked when invalid."""

    def __init__(self, backend: Backend, cache: ReplyCache, sampling: Sampling, max_reasks: int = 2,
                 counters: Counter | None = None):
        self.backend = backend
        self.cache = cache
        self.sampling = sampling
        self.max_reasks = max_reasks
        self.counters = counters if counters is not None else Counter()

    async def complete(self, messages: Messages) -> str:
        key = cache_key(self.backend.model, messages, asdict(self.sampling))
        reply = self.cache.get(key)
        if reply is not None:
            self.counters["cache_hits"] += 1
            return reply
        try:
            reply = await self.backend.generate(messages, self.sampling)
        except Exception as err:
            self.counters["errors"] += 1
            raise LLMUnavailable(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from err
        self.counters["calls"] += 1
        self.cache.put(key, reply)
        return reply

    async def ask(self, messages: Messages, parse: Callable[[str], T]) -> tuple[T, Messages]:
        """Ask until ``parse`` accepts the reply (at most ``max_reasks`` re-asks, each telling the
        model what was wrong). Returns the parsed value and the conversation including the reply;
        raises :class:`Rejected` (``invalid_reply``) when every answer was invalid."""
        conversation = list(messages)
        problem = ""
        for attempt in range(self.max_reasks + 1):
            reply = await self.complete(conversation)
            try:
                return parse(reply), conversation + [{"role": "assistant", "content": reply}]
            except InvalidReply as err:
                problem = str(err)
                if attempt < self.max_reasks:
                    self.counters["reasks"] += 1
                    conversation = conversation + [
                        {"role": "assistant", "content": reply},
                        {"role": "user", "content": REASK.format(problem=problem)},
                    ]
        raise Rejected("invalid_reply", problem)


_JSON_RE = re.compile(r"\{.*\}", re.DOTALL)


def parse_json_object(reply: str) -> dict[str, Any]:
    """The JSON object in a reply (code fences and text around it are tolerated)."""
    match = _JSON_RE.search(reply or "")
    if not match:
        raise InvalidReply("no JSON object in the reply")
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError as err:
        raise InvalidReply(f"the JSON is malformed ({err.msg})") from None
    if not isinstance(value, dict):
        raise InvalidReply("the reply is not a JSON object")
    return value
