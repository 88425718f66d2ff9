"""LLM judges for benchmarks scored by a language model (MMHal-Bench).

A judge is either a backend of :mod:`mmalign.data_gen.backends` (an object with ``async generate(messages,
sampling)``, e.g. the OpenAI-compatible one, which retries transient failures itself) or any plain
callable ``chat(messages) -> str``. Replies are appended to a JSONL file as they arrive, so an
interrupted judging pass resumes without asking again; a reply is reused only for the same judge
and the same request (a changed answer or prompt is judged anew).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmalign.errors import ConfigError, MMAlignError

Messages = list[dict[str, str]]
Chat = Callable[[Messages], str]


def openai_judge(model: str, base_url: str | None, api_key_env: str, concurrency: int) -> Any:
    """The OpenAI-compatible backend of :mod:`mmalign.data_gen.backends` (any chat-completions server)."""
    if not model:
        raise ConfigError("this benchmark is judged by an LLM: set judge_model=NAME (and judge_base_url for a local server)")
    from mmalign.data_gen.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(model, base_url=base_url, api_key_env=api_key_env, concurrency=concurrency)


async def _ask(judge: Any, messages: Messages, max_tokens: int) -> str:
    if hasattr(judge, "generate"):
        from mmalign.data_gen.backends.base import Sampling

        return await judge.generate(messages, Sampling(temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=0))
    return await asyncio.to_thread(judge, messages)


def judge_all(
    judge: Any, requests: dict[str, Messages], store: Path, concurrency: int = 8, max_tokens: int = 512, name: str = ""
) -> dict[str, str]:
    """Replies to ``requests`` (id → messages), read from ``store`` where the judge ``name`` already
    gave them (the same request text, the same judge)."""
    replies: dict[str, str] = {}
    if store.is_file():
        for line in store.read_text(encoding="utf-8", errors="replace").split("\n"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # empty, or cut off by a kill
            key = str(record.get("id"))
            if key in requests and record.get("judge", "") == name and record.get("request") == _digest(requests[key]):
                replies[key] = record["reply"]
    todo = {k: v for k, v in requests.items() if k not in replies}
    if todo:
        replies.update(asyncio.run(_judge(judge, todo, store, concurrency, max_tokens, name)))
    return {k: replies[k] for k in requests}


def _digest(messages: Messages) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode("utf-8")).hexdigest()[:16]


async def _judge(judge: Any, todo: dict[str, Messages], store: Path, concurrency: int, max_tokens: int, name: str) -> dict[str, str]:
    from tqdm.auto import tqdm

    limit = asyncio.Semaphore(concurrency)
    got: dict[str, str] = {}
    failures: list[tuple[str, BaseException]] = []
    bar = tqdm(total=len(todo), desc="judging", unit="item")
    store.parent.mkdir(parents=True, exist_ok=True)
    with store.open("a", encoding="utf-8") as f:

        async def one(key: str, messages: Messages) -> None:
            async with limit:
                try:
                    reply = await _ask(judge, messages, max_tokens)
                except Exception as err:  # noqa: BLE001 — reported once, below
                    failures.append((key, err))
                    return
            got[key] = reply
            record = {"id": key, "judge": name, "request": _digest(messages), "reply": reply}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            bar.update(1)

        await asyncio.gather(*(one(k, m) for k, m in todo.items()))
    bar.close()
    if hasattr(judge, "aclose"):
        await judge.aclose()
    if failures:
        key, err = failures[0]
        raise MMAlignError(
            f"the judge failed on {len(failures)} item(s), first {key!r}: {type(err).__name__}: {err}; "
            f"the {len(got)} replies received are kept in {store}, run again to finish"
        )
    return got
