"""Small helpers the metric modules share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def pct(part: float, whole: float) -> float:
    """``100 · part / whole``; 0 when ``whole`` is 0 (an empty set scores 0, not NaN)."""
    return 100.0 * part / whole if whole else 0.0


def accuracy_by_group(correct: Iterable[bool], groups: Iterable[str]) -> dict[str, float]:
    """Accuracy (%) of each group, in order of first appearance."""
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ok, group in zip(correct, groups):
        hits[group][0] += bool(ok)
        hits[group][1] += 1
    return {group: pct(right, total) for group, (right, total) in hits.items()}
