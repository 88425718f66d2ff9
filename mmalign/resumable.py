"""The resumable loop of the two long commands, pair building (:mod:`mmalign.data_gen.runner`) and
evaluation (:mod:`mmalign.eval.runner`): check the items' ids, leave out those a previous run
committed, take this worker's share, and count the committed ones on a progress bar.

A worker is one of ``count`` machines or launched processes. Its :class:`Share` is either by id (a
stable hash, so a shard holds the same items whatever the plan's order and shards can be merged
afterwards: pair building's ``num_shards``) or by turns over the items still to do (process k takes
every k-th, so the work stays even when a run resumes with another number of processes:
evaluation under ``accelerate launch``). Where results are kept differs by command (a journaled
file per shard, :class:`mmalign.data_gen.writer.ResumableWriter`, which commits every N items; a
file per process appended batch by batch, :class:`mmalign.eval.predictions.PredictionStore`), so
the caller commits and then calls :meth:`ResumableLoop.advance`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tqdm.auto import tqdm

from .errors import DataError

__all__ = ["ResumableLoop", "Share", "check_unique_ids", "shard_of"]


class HasId(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def source(self) -> str: ...  # the file (and line) the item came from, for error messages


T = TypeVar("T", bound=HasId)


def check_unique_ids(items: Sequence[HasId]) -> None:
    """Raise a :class:`DataError` naming the second item that repeats an id, and where the first was."""
    seen: dict[str, str] = {}
    for item in items:
        if item.id in seen:
            raise DataError(f"duplicate id (first in {seen[item.id]})", source=item.source, record_id=item.id)
        seen[item.id] = item.source


def shard_of(item_id: str, num_shards: int) -> int:
    """The shard an item belongs to: a stable hash of its id (independent of the plan's order)."""
    return int(hashlib.sha1(item_id.encode("utf-8")).hexdigest(), 16) % num_shards


@dataclass(frozen=True)
class Share:
    """Worker ``index`` of ``count``: items by a hash of their id (``by_id``), or by turns."""

    index: int = 0
    count: int = 1
    by_id: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"worker index {self.index} is not in 0..{self.count - 1}")

    def take(self, indexed: Sequence[tuple[int, T]]) -> list[tuple[int, T]]:
        """This worker's ``(plan index, item)`` entries, in the given order."""
        if self.by_id:
            return [entry for entry in indexed if shard_of(entry[1].id, self.count) == self.index]
        return list(indexed[self.index :: self.count])


class ResumableLoop(Generic[T]):
    """The ``(plan index, item)`` entries this worker still has to do (:attr:`todo`), of ``items``
    (whose ids :func:`check_unique_ids` has checked) less the ids in ``done``; and a progress bar,
    opened by :meth:`start` once the work is ready to begin (a set-up error then prints no bar),
    shown while there is work, that starts at the worker's share of the items already done
    (:attr:`already`) and ends at its share of all (:attr:`total`). Use as a context manager; call
    :meth:`advance` as items are committed."""

    def __init__(self, items: Sequence[T], done: Collection[str], share: Share = Share(), *,
                 desc: str, progress: bool = True):
        indexed = list(enumerate(items))
        self.todo: list[tuple[int, T]] = share.take([entry for entry in indexed if entry[1].id not in done])
        self.already = len(share.take([entry for entry in indexed if entry[1].id in done]))
        self.total = self.already + len(self.todo)
        self.desc, self.progress = desc, progress
        self._bar: tqdm | None = None

    def start(self) -> None:
        """Show the progress bar (once)."""
        if self._bar is None:
            self._bar = tqdm(total=self.total, initial=self.already, unit="item", desc=self.desc,
                             disable=not (self.progress and self.todo))

    def advance(self, items: int = 1) -> None:
        """Count ``items`` more as committed."""
        self.start()
        self._bar.update(items)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> ResumableLoop[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
