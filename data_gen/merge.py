"""Joining finished shards into one output, in plan order (the order of an unsharded run)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

from mmalign.errors import DataError

from .config import GenConfig, shard_path
from .stats import RunStats
from .writer import read_journal


def merge_shards(config: GenConfig) -> RunStats:
    """Write ``output_file`` from its ``num_shards`` finished shards, and the summed stats."""
    stats = RunStats(config.pipeline)
    chunks: list[tuple[int, Path, int, int]] = []
    seen: dict[str, Path] = {}
    for k in range(config.num_shards):
        path = shard_path(config.output_file, k, config.num_shards)
        header, entries, complete, _ = read_journal(path)
        if header is None or not path.is_file():
            raise DataError(f"shard {k} has not been generated: {path} (or its journal) is missing")
        if not complete:
            raise DataError(f"shard {k} is not finished: run it again to complete {path}")
        if header.get("fingerprint") != config.fingerprint():
            raise DataError(f"shard {k} ({path}) was generated with other settings")
        for entry in entries:
            for pair_id in entry["pairs"]:
                if pair_id in seen:
                    raise DataError(f"pair id {pair_id!r} is in two shards: {seen[pair_id]} and {path}")
                seen[pair_id] = path
            chunks.append((entry["i"], path, entry["start"], entry["end"]))
            stats.items += 1
            stats.add(entry)
    chunks.sort()
    out = Path(config.output_file)
    tmp = out.with_name(out.name + ".merging")
    with ExitStack() as stack, open(tmp, "wb") as f:
        shards = {path: stack.enter_context(open(path, "rb")) for path in {c[1] for c in chunks}}
        for _, path, start, end in chunks:
            shards[path].seek(start)
            f.write(shards[path].read(end - start))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(out)
    stats.write(config.stats_path())
    print(stats.summary())
    return stats
