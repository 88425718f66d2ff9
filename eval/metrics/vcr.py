"""VCRBench clip ordering (Sarkar & Etemad, "VCRBench: exploring long-form causal reasoning
capabilities of large video language models", arXiv 2505.08455).

The model orders shuffled clips. ``accuracy``: % of questions whose whole order is right.
``step_accuracy``: % of positions holding the right clip, over all positions of all questions; an
order that is missing or of the wrong length gets every position of its question wrong (as the
benchmark's own scoring does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .common import pct


def vcr_order(predicted_orders: Sequence[Sequence[int] | None], true_orders: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Accuracy and step accuracy (percentages) of predicted clip orders.

    ``predicted_orders[i]`` is a list of clip numbers (or ``None`` when the answer could not be
    read); ``true_orders[i]`` the correct list. Returns ``accuracy``, ``step_accuracy``,
    ``unparseable`` (count of ``None``) and ``n``.
    """
    if len(predicted_orders) != len(true_orders):
        raise ValueError(f"{len(predicted_orders)} predicted orders for {len(true_orders)} questions")
    exact = right_steps = steps = unparseable = 0
    for predicted, truth in zip(predicted_orders, true_orders):
        truth = [int(x) for x in truth]
        steps += len(truth)
        if predicted is None:
            unparseable += 1
            continue
        predicted = [int(x) for x in predicted]
        if len(predicted) != len(truth):
            continue
        exact += predicted == truth
        right_steps += sum(p == t for p, t in zip(predicted, truth))
    return {
        "accuracy": pct(exact, len(true_orders)),
        "step_accuracy": pct(right_steps, steps),
        "unparseable": unparseable,
        "n": len(true_orders),
    }
