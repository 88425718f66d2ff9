"""The resumable loop's bookkeeping: ids checked, committed items left out, shares of workers that
together cover every item once, and a progress bar that starts where the last run stopped."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from mmalign.errors import DataError
from mmalign.resumable import ResumableLoop, Share, check_unique_ids, shard_of


@dataclass(frozen=True)
class Thing:
    id: str
    source: str = "things.jsonl"


ITEMS = [Thing(f"item-{i}", f"things.jsonl:{i + 1}") for i in range(40)]


def test_a_repeated_id_names_both_places():
    items = [Thing("a", "f.jsonl:1"), Thing("b", "f.jsonl:2"), Thing("a", "f.jsonl:3")]
    with pytest.raises(DataError) as err:
        check_unique_ids(items)
    assert str(err.value) == "f.jsonl:3: record 'a': duplicate id (first in f.jsonl:1)"
    check_unique_ids(items[:2])


@pytest.mark.parametrize("by_id", [True, False])
@pytest.mark.parametrize("count", [1, 3])
def test_shares_cover_every_pending_item_once(by_id, count):
    done = {f"item-{i}" for i in range(0, 40, 7)}
    loops = [ResumableLoop(ITEMS, done, Share(k, count, by_id), desc="t", progress=False) for k in range(count)]
    todo = [entry for loop in loops for entry in loop.todo]
    assert sorted(todo, key=lambda e: e[0]) == [(i, item) for i, item in enumerate(ITEMS) if item.id not in done]
    assert sum(loop.already for loop in loops) == len(done)
    assert sum(loop.total for loop in loops) == len(ITEMS)
    for loop in loops:
        assert [i for i, _ in loop.todo] == sorted(i for i, _ in loop.todo)  # plan order kept


def test_turns_deal_out_the_pending_items():
    done = {"item-0", "item-1", "item-5"}
    pending = [(i, item) for i, item in enumerate(ITEMS) if item.id not in done]
    for k in range(3):
        assert ResumableLoop(ITEMS, done, Share(k, 3), desc="t", progress=False).todo == pending[k::3]


def test_shards_by_id_do_not_depend_on_the_order():
    shuffled = ITEMS[:]
    random.Random(0).shuffle(shuffled)
    for k in range(4):
        share = Share(k, 4, by_id=True)
        ids = {item.id for _, item in share.take(list(enumerate(ITEMS)))}
        assert ids == {item.id for _, item in share.take(list(enumerate(shuffled)))}
        assert ids == {item.id for item in ITEMS if shard_of(item.id, 4) == k}
    assert len({shard_of(item.id, 4) for item in ITEMS}) == 4  # 40 ids land in all four shards


def test_a_worker_outside_the_count_is_refused():
    with pytest.raises(ValueError, match="worker index 2 is not in 0..1"):
        Share(2, 2)


def test_progress_starts_at_the_items_already_done(capsys):
    done = {item.id for item in ITEMS[:10]}
    with ResumableLoop(ITEMS, done, desc="things") as loop:
        assert (loop.already, loop.total, len(loop.todo)) == (10, 40, 30)
        assert capsys.readouterr().err == ""  # nothing shown before the work starts
        loop.start()
        for _ in range(3):
            loop.advance(10)
    bar = capsys.readouterr().err
    assert "things:" in bar and "10/40" in bar and "40/40" in bar


def test_no_bar_when_nothing_is_left(capsys):
    with ResumableLoop(ITEMS, {item.id for item in ITEMS}, desc="things") as loop:
        assert loop.todo == [] and loop.total == 40
        loop.start()
    assert capsys.readouterr().err == ""
