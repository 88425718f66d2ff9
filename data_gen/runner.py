"""Runs a pipeline: plan, shard, process items concurrently, write them resumably, report.

The loop's bookkeeping (ids checked, committed items left out, this shard's items by a hash of their
id, the progress bar) is :class:`mmalign.resumable.ResumableLoop`'s. Items are processed as asyncio tasks, at most ``window`` at a time, and committed in plan order as
they finish (so the output order does not depend on timing). An item whose LLM calls still fail
after every retry is not written: it is counted as failed, the run goes on, and the command ends
with an error asking for a rerun, which resumes and does only the missing items.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from tqdm.contrib.logging import logging_redirect_tqdm

from mmalign.errors import MMAlignError
from mmalign.resumable import ResumableLoop, Share, check_unique_ids

from .backends import LLMUnavailable, Rejected
from .config import GenConfig
from .pipeline import Outcome, Pipeline, WorkItem, count
from .stats import RunStats
from .writer import ResumableWriter

logger = logging.getLogger("mmalign.data_gen")


def make_pipeline(config: GenConfig, stats: RunStats) -> Pipeline:
    if config.pipeline == "halva":
        from .halva import HalvaPipeline as cls
    elif config.pipeline == "selfalign":
        from .selfalign import SelfAlignPipeline as cls
    else:
        from .autotag import AutotagPipeline as cls
    return cls(config, stats)


def generate(config: GenConfig) -> RunStats:
    """Generate this shard's pairs into ``config.shard_output()``; returns the run's stats."""
    stats = RunStats(config.pipeline)
    with logging_redirect_tqdm():
        pipeline = make_pipeline(config, stats)
        items = pipeline.plan()  # every input problem that stops the run is raised here, before writing
        if config.max_items is not None:
            items = items[: config.max_items]
        check_unique_ids(items)
        writer = ResumableWriter(config.shard_output(), config.fingerprint(), config.overwrite, config.commit_every)
        share = Share(config.shard_index, config.num_shards, by_id=True)
        with ResumableLoop(items, writer.done, share, desc=pipeline.name, progress=config.progress) as loop:
            stats.items = loop.total
            for entry in writer.done.values():
                stats.add(entry)
            try:
                if loop.todo:
                    asyncio.run(_run(pipeline, loop, writer, stats, config))
                if not stats.failed:
                    writer.mark_complete(loop.total)
            finally:
                writer.close()
    stats.write(config.stats_path())
    print(stats.summary())
    if stats.failed:
        raise MMAlignError(
            f"{sum(stats.failed.values())} items failed on LLM errors and were not written; "
            "run the same command again to retry them"
        )
    return stats


async def _run(pipeline: Pipeline, loop: ResumableLoop[WorkItem], writer: ResumableWriter,
               stats: RunStats, config: GenConfig) -> None:
    await pipeline.start()
    loop.start()
    queue: deque = deque()
    try:
        for index, item in loop.todo:
            queue.append((index, item, asyncio.create_task(_process(pipeline, item))))
            # commit finished items at the head; wait for the head when the window is full
            while queue and (len(queue) >= config.window or queue[0][2].done()):
                await _commit(queue.popleft(), writer, stats, loop)
        while queue:
            await _commit(queue.popleft(), writer, stats, loop)
    finally:
        for _, _, task in queue:
            task.cancel()
        await pipeline.close()


async def _process(pipeline: Pipeline, item: WorkItem) -> Outcome:
    try:
        return await pipeline.process(item)
    except Rejected as rejected:
        return Outcome(rejected=[rejected.reason])


async def _commit(entry: tuple, writer: ResumableWriter, stats: RunStats, loop: ResumableLoop[WorkItem]) -> None:
    index, item, task = entry
    try:
        outcome = await task
    except LLMUnavailable as err:
        logger.warning("item %r: the LLM failed after all retries (%s); left for the next run", item.id, err)
        stats.failed["llm_unavailable"] += 1
    else:
        accepted = count([p.get("kind") or "pair" for p in outcome.pairs])
        stats.add(writer.add(index, item.id, outcome.pairs, accepted, count(outcome.rejected)))
    loop.advance()
