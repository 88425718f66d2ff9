"""LLM backends: a real chat-completions server on loopback with scripted failures, driven through
the ``openai`` client; the cache; re-asks; the retry schedule; the local ``transformers`` backend."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from gen_fixtures import ChatServer

from mmalign.data_gen.backends import (
    LLM,
    InvalidReply,
    LLMUnavailable,
    Rejected,
    ReplyCache,
    RetryPolicy,
    Sampling,
)
from mmalign.data_gen.backends.openai_backend import OpenAIBackend

FAST = RetryPolicy(max_retries=6, base=0.001, cap=0.01)


def user(text):
    return [{"role": "user", "content": text}]


def llm_for(server, cache=None, max_reasks=2, retry=FAST, timeout=5.0, concurrency=4):
    counters = Counter()
    backend = OpenAIBackend("fake-model", server.base_url, "NO_SUCH_KEY_VAR", concurrency, timeout, retry, counters)
    return LLM(backend, cache if cache is not None else ReplyCache(None), Sampling(), max_reasks, counters)


def test_every_kind_of_transient_failure_is_retried():
    script = {"hi": [429, 500, 503, "drop", "garbage", "slow"]}
    with ChatServer(script=script, slow_seconds=1.0) as server:
        llm = llm_for(server, timeout=0.3)
        reply = asyncio.run(llm.complete(user("hi")))
    assert reply == "echo: hi"
    assert len(server.requests) == 7  # six failures, then the answer
    assert llm.counters["retries"] == 6 and llm.counters["calls"] == 1


def test_a_client_error_is_not_retried_and_fails_the_item():
    with ChatServer(script={"bad": [400]}) as server:
        llm = llm_for(server)
        with pytest.raises(LLMUnavailable, match="BadRequestError"):
            asyncio.run(llm.complete(user("bad")))
    assert len(server.requests) == 1


def test_retries_are_bounded():
    with ChatServer(script={"down": [500] * 10}) as server, pytest.raises(LLMUnavailable, match="InternalServerError"):
        asyncio.run(llm_for(server, retry=RetryPolicy(2, 0.001, 0.01)).complete(user("down")))
    assert len(server.requests) == 3


def test_cache_answers_a_rerun_without_calls(tmp_path):
    path = tmp_path / "cache.sqlite"
    with ChatServer() as server:
        asyncio.run(llm_for(server, ReplyCache(path)).complete(user("a")))
        llm = llm_for(server, ReplyCache(path))  # a new process would open the same file
        assert asyncio.run(llm.complete(user("a"))) == "echo: a"
        assert len(server.requests) == 1 and llm.counters["cache_hits"] == 1
        other = LLM(llm.backend, ReplyCache(path), Sampling(temperature=0.7), 2, Counter())
        asyncio.run(other.complete(user("a")))  # other sampling parameters: another key
        assert len(server.requests) == 2


def test_invalid_reply_is_reasked_with_the_problem_then_rejected():
    def parse(reply):
        if not reply.startswith("{"):
            raise InvalidReply("not JSON")
        return reply

    script = {"q": ["reply:nonsense"]}
    with ChatServer(script=script, reply=lambda m: '{"ok": 1}') as server:
        value, conversation = asyncio.run(llm_for(server).ask(user("q"), parse))
        assert value == '{"ok": 1}'
        assert len(server.requests) == 2
        reask = server.requests[1]
        assert [m["role"] for m in reask] == ["user", "assistant", "user"] and "not JSON" in reask[2]["content"]
        assert conversation[-1] == {"role": "assistant", "content": '{"ok": 1}'}
    with ChatServer(reply=lambda m: "never json") as server:
        with pytest.raises(Rejected) as err:
            asyncio.run(llm_for(server, max_reasks=2).ask(user("q"), parse))
        assert err.value.reason == "invalid_reply" and len(server.requests) == 3


def test_concurrency_is_bounded():
    with ChatServer(delay=0.05) as server:
        llm = llm_for(server, concurrency=3)

        async def many():
            return await asyncio.gather(*(llm.complete(user(f"m{i}")) for i in range(12)))

        replies = asyncio.run(many())
    assert replies == [f"echo: m{i}" for i in range(12)]
    assert server.max_in_flight <= 3


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after():
    policy, rng = RetryPolicy(max_retries=8, base=1.0, cap=10.0), random.Random(0)
    for attempt, step in enumerate([1, 2, 4, 8, 10, 10]):
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 100  # jittered
    assert policy.delay(0, rng, retry_after=5.0) == 5.0
    assert policy.delay(0, rng, retry_after=99.0) == 10.0


def test_transformers_backend_batches_a_local_model(tiny_model_dir):
    from mmalign.data_gen.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_model_dir("llava")), batch_size=4)
    calls = []
    original = backend.batcher.run_batch
    backend.batcher.run_batch = lambda requests: calls.append(len(requests)) or original(requests)
    llm = LLM(backend, ReplyCache(None), Sampling(max_tokens=6), 0, Counter())

    async def run(texts, client=llm):
        return await asyncio.gather(*(client.complete(user(t)) for t in texts))

    texts = ["Describe the image.", "What color is the shape?", "What shape do you see?"]
    first = asyncio.run(run(texts))
    assert calls == [3]  # one batch for the three concurrent requests
    assert all(isinstance(r, str) for r in first)
    again = LLM(backend, ReplyCache(None), Sampling(max_tokens=6), 0, Counter())
    assert asyncio.run(run(texts, again)) == first  # greedy decoding: deterministic


def test_credentials_in_base_url_never_reach_the_log_and_an_unset_key_is_announced(monkeypatch):
    import io
    import logging

    from mmalign.redact import install_log_redaction

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    try:
        install_log_redaction()  # what every command line does
        with ChatServer() as server:
            secret_url = server.base_url.replace("http://", "http://alice:s3cret@")
            backend = OpenAIBackend("fake-model", secret_url, "NO_SUCH_KEY_VAR", 1, 5.0, FAST, Counter())
            llm = LLM(backend, ReplyCache(None), Sampling(), 0, Counter())
            assert asyncio.run(llm.complete(user("hi"))) == "echo: hi"
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    log = stream.getvalue()
    assert "HTTP Request: POST http://***@127.0.0.1" in log  # the client did log the URL it called
    assert "s3cret" not in log and "alice" not in log
    assert "api_key_env=NO_SUCH_KEY_VAR: the variable is not set; sending no API key" in log
