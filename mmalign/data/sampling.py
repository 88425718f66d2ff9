"""Which pairs train, and which reference sample goes with each: seeded and reproducible.

Both follow the official HALVA loader (``train_halva.py``): yes/no (``qa``) pairs are balanced to
equal counts, and every pair gets a reference sample of its own (the first N of a shuffled
reference set) rather than one drawn with replacement.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from .records import PairRecord

__all__ = ["balance_yes_no", "reference_assignment", "yes_no_label"]

_FIRST_WORD = re.compile(r"[A-Za-z]+")


def yes_no_label(pair: PairRecord) -> str | None:
    """``"yes"``/``"no"`` for a yes/no pair (kind ``qa``): its ``answer`` field (the official files'
    ``raw_answer``) or else the first word of the preferred response; None for any other pair."""
    if pair.kind != "qa":
        return None
    answer = pair.answer if pair.answer is not None else pair.chosen
    word = _FIRST_WORD.search(answer or "")
    label = word.group(0).lower() if word else ""
    return label if label in ("yes", "no") else None


def balance_yes_no(pairs: Sequence[PairRecord], seed: int) -> tuple[list[PairRecord], dict[str, int]]:
    """Keep as many yes as no pairs among the ``qa`` pairs, chosen at random (seeded); others stay.

    Returns the kept pairs in their original order and the counts ``{"yes", "no", "dropped"}``.
    """
    labels = [yes_no_label(p) for p in pairs]
    yes = [i for i, label in enumerate(labels) if label == "yes"]
    no = [i for i, label in enumerate(labels) if label == "no"]
    rng = random.Random(seed)
    rng.shuffle(yes)
    rng.shuffle(no)
    keep = min(len(yes), len(no))
    dropped = set(yes[keep:]) | set(no[keep:])
    kept = [p for i, p in enumerate(pairs) if i not in dropped]
    return kept, {"yes": keep, "no": keep, "dropped": len(dropped)}


def reference_assignment(num_pairs: int, num_references: int, seed: int) -> list[int]:
    """The reference sample of each pair: a seeded permutation of the reference set, so every pair
    has its own sample; when there are fewer references than pairs, further permutations follow
    (each reference is used once per cycle)."""
    if num_references <= 0:
        return []
    rng = random.Random(seed)
    order: list[int] = []
    while len(order) < num_pairs:
        cycle = list(range(num_references))
        rng.shuffle(cycle)
        order.extend(cycle)
    return order[:num_pairs]
