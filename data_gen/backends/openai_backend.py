"""Any server speaking the OpenAI chat-completions protocol (vLLM, SGLang, TGI, Ollama, OpenAI),
through the ``openai`` package's async client, with bounded concurrency and our retry policy."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter

import openai

from .base import Backend, Messages, Sampling
from .retry import RetryPolicy, TransientReplyError, call_with_retries

logger = logging.getLogger(__name__)


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        counters: Counter | None = None,
    ):
        super().__init__(model)
        # Local servers need no key; the client insists on one, so an unset variable sends a dummy.
        key = os.environ.get(api_key_env) if api_key_env else None
        if not key:
            logger.warning("api_key_env=%s: the variable is %s; sending no API key (fine for a local server "
                           "without one)", api_key_env, "not set" if api_key_env else "not named")
        self.client = openai.AsyncOpenAI(base_url=base_url, api_key=key or "none", timeout=timeout, max_retries=0)
        self.semaphore = asyncio.Semaphore(concurrency)
        self.retry = retry or RetryPolicy()
        self.counters = counters if counters is not None else Counter()
        self._rng = random.Random()  # jitter only: timing, not content

    async def generate(self, messages: Messages, sampling: Sampling) -> str:
        async with self.semaphore:
            return await call_with_retries(
                lambda: self._once(messages, sampling), self.retry, self._rng, self._count_retry
            )

    def _count_retry(self, err: BaseException) -> None:
        self.counters["retries"] += 1

    async def _once(self, messages: Messages, sampling: Sampling) -> str:
        extra = {} if sampling.seed is None else {"seed": sampling.seed}
        response = await self.client.chat.completions.create(
            model=self.model,
            messages=messages,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            **extra,
        )
        choices = getattr(response, "choices", None)
        content = choices[0].message.content if choices else None
        if not isinstance(content, str):
            raise TransientReplyError("the server's reply holds no message content")
        return content

    async def aclose(self) -> None:
        await self.client.close()
