"""Which pairs train and which reference sample goes with each (mmalign.data.sampling)."""

from __future__ import annotations

import random
from collections import Counter

from mmalign.data.records import PairRecord
from mmalign.data.sampling import balance_yes_no, reference_assignment, yes_no_label


def _pair(i: int, kind: str | None, chosen: str, answer: str | None = None) -> PairRecord:
    return PairRecord(str(i), "q", chosen, "x", [], [], kind=kind, answer=answer)


def test_every_pair_gets_its_own_reference_when_there_are_enough():
    order = reference_assignment(20, 50, seed=3)
    assert len(order) == 20 and len(set(order)) == 20  # drawn without replacement
    assert order == reference_assignment(20, 50, seed=3)  # fixed by the seed
    assert order != reference_assignment(20, 50, seed=4)


def test_references_cycle_only_when_fewer_than_pairs():
    order = reference_assignment(23, 10, seed=0)
    # two whole permutations, then the first 3 of a third
    assert sorted(order[:10]) == list(range(10)) and sorted(order[10:20]) == list(range(10))
    counts = Counter(order)
    assert set(counts.values()) <= {2, 3} and sum(counts.values()) == 23
    # with replacement, 20 000 pairs over 20 000 references would see about 63 % distinct ones
    assert len(set(reference_assignment(20000, 20000, seed=1))) == 20000
    assert reference_assignment(5, 0, seed=0) == []


def test_yes_no_labels_from_raw_answer_or_first_word():
    assert yes_no_label(_pair(0, "qa", "Yes, there is a dog.")) == "yes"
    assert yes_no_label(_pair(1, "qa", "No.", answer="No")) == "no"
    assert yes_no_label(_pair(2, "qa", "There is a dog.", answer="yes")) == "yes"
    assert yes_no_label(_pair(3, "closed", "Yes.")) is None
    assert yes_no_label(_pair(4, "qa", "Two dogs.")) is None


def test_balance_yes_no_keeps_equal_counts_and_every_other_pair():
    pairs = [_pair(i, "qa", "Yes.") for i in range(7)] + [_pair(10 + i, "qa", "No.") for i in range(3)]
    pairs += [_pair(20 + i, "closed", "A dog.") for i in range(4)]
    random.Random(0).shuffle(pairs)
    kept, counts = balance_yes_no(pairs, seed=42)
    labels = Counter(yes_no_label(p) for p in kept)
    assert labels == {"yes": 3, "no": 3, None: 4}
    assert counts == {"yes": 3, "no": 3, "dropped": 4}
    assert [p.id for p in kept] == [p.id for p in pairs if p in kept]  # original order
    assert [p.id for p in balance_yes_no(pairs, seed=42)[0]] == [p.id for p in kept]
