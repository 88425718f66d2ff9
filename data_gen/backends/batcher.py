"""Gathering requests from concurrent tasks into batches for a local model.

Pipelines process many items at once as asyncio tasks; a local model (an LLM, or the model being
aligned) is fastest on batches. :class:`MicroBatcher` queues the requests of all tasks and runs
them through a blocking batch function in a worker thread (the event loop keeps serving remote
calls meanwhile), in the order they were submitted, ``batch_size`` at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# Event-loop turns to wait before a batch is cut: enough for every task that is ready to run
# up to its next request, so batches fill without a timer.
_GATHER_TURNS = 3


class MicroBatcher:
    def __init__(self, run_batch: Callable[[list[Any]], list[Any]], batch_size: int):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.run_batch = run_batch
        self.batch_size = batch_size
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None

    async def submit(self, request: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            for _ in range(_GATHER_TURNS):
                await asyncio.sleep(0)
            batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
            try:
                results = await asyncio.to_thread(self.run_batch, [request for request, _ in batch])
            except Exception as err:  # noqa: BLE001 — handed to every waiting task
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
