"""POPE (Li et al., "Evaluating object hallucination in large vision-language models", EMNLP 2023).

Yes/no questions about objects; "yes" is the positive class. A free-text answer is read by
``read``: by default :func:`mmalign.eval.parsing.parse_yes_no`, where an answer that says neither yes nor
no is unparseable and counts as wrong (a missed "yes" when the label is yes, a wrong answer to a
"no" question otherwise), staying in every denominator; the benchmark passes POPE's own reader
(:func:`mmalign.eval.official_parsing.pope_answer`), which reads every answer as yes or no.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..parsing import parse_yes_no
from .common import pct


def yes_no_table(answers: Sequence[str | None], labels: Sequence[str]) -> dict[tuple[str, str | None], int]:
    """Counts of (label, parsed answer) pairs; answers are ``"yes"``, ``"no"`` or ``None``."""
    if len(answers) != len(labels):
        raise ValueError(f"{len(answers)} answers for {len(labels)} labels")
    table = {(label, answer): 0 for label in ("yes", "no") for answer in ("yes", "no", None)}
    for answer, label in zip(answers, labels):
        label = str(label).strip().lower()
        if label not in ("yes", "no"):
            raise ValueError(f"label must be yes or no, got {label!r}")
        table[(label, answer)] += 1
    return table


def pope(
    predictions: Sequence[str | None], labels: Sequence[str], read: Callable[[str], str | None] = parse_yes_no
) -> dict[str, Any]:
    """POPE metrics (percentages) of free-text ``predictions`` against ``"yes"``/``"no"`` ``labels``.

    Returns ``accuracy``, ``precision``, ``recall``, ``f1`` (yes = positive), ``yes_ratio`` (% of
    answers that are yes), ``unparseable`` (count) and ``n``. Unparseable answers are wrong.
    """
    answers = [None if p is None else read(str(p)) for p in predictions]
    t = yes_no_table(answers, labels)
    n = len(labels)
    tp, fp, tn = t[("yes", "yes")], t[("no", "yes")], t[("no", "no")]
    positives = t[("yes", "yes")] + t[("yes", "no")] + t[("yes", None)]
    precision = pct(tp, tp + fp)
    recall = pct(tp, positives)
    return {
        "accuracy": pct(tp + tn, n),
        "precision": precision,
        "recall": recall,
        "f1": f1_score(precision, recall),
        "yes_ratio": pct(tp + fp, n),
        "unparseable": t[("yes", None)] + t[("no", None)],
        "n": n,
    }


def f1_score(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
