"""LLM backends behind one interface (:class:`Backend`) plus the cache/validation layer (:class:`LLM`).

``openai``: any OpenAI-compatible chat-completions server; ``transformers``: a local model.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mmalign.errors import ConfigError

from .base import (
    LLM,
    Backend,
    InvalidReply,
    LLMUnavailable,
    Messages,
    Rejected,
    Sampling,
    parse_json_object,
)
from .cache import ReplyCache, cache_key
from .retry import RetryPolicy

BACKENDS = ("none", "openai", "transformers")

__all__ = ["BACKENDS", "LLM", "Backend", "InvalidReply", "LLMUnavailable", "Messages", "Rejected", "ReplyCache",
           "RetryPolicy", "Sampling", "cache_key", "make_backend", "parse_json_object"]


def make_backend(config: Any, counters: Counter | None = None) -> Backend | None:
    """The backend named by ``config.llm`` (None for ``none``), built from the config's llm_* keys."""
    if config.llm == "none":
        return None
    if not config.llm_model:
        raise ConfigError(f"llm={config.llm} needs llm_model=NAME_OR_PATH")
    if config.llm == "openai":
        from .openai_backend import OpenAIBackend

        retry = RetryPolicy(config.max_retries, config.backoff_base, config.backoff_max)
        return OpenAIBackend(config.llm_model, config.base_url, config.api_key_env, config.concurrency,
                             config.request_timeout, retry, counters)
    if config.llm == "transformers":
        from .transformers_backend import TransformersBackend

        return TransformersBackend(config.llm_model, config.llm_batch_size, config.dtype)
    raise ConfigError(f"unknown llm {config.llm!r}; expected one of {', '.join(BACKENDS)}")
