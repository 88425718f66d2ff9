"""MME (Fu et al., "MME: a comprehensive evaluation benchmark for multimodal large language
models", arXiv 2306.13394) scores, e.g. on its hallucination subset (existence, count, position,
color — "MME-Hall", at most 800).

Each image has two yes/no questions. Per subtask: accuracy = % of questions answered right;
accuracy+ = % of images with both questions right; score = accuracy + accuracy+ (at most 200).
An answer that ``read`` does not read as yes or no is wrong (by default
:func:`mmalign.eval.parsing.parse_yes_no`; the benchmark passes MME's own reader,
:func:`mmalign.eval.official_parsing.mme_answer`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from ..parsing import parse_yes_no
from .common import pct


def mme(answers: Iterable[tuple[str, str, str, str]], read: Callable[[str], str | None] = parse_yes_no) -> dict[str, Any]:
    """Scores of ``(subtask, image, response, label)`` tuples (label ``yes``/``no``).

    Returns one entry per subtask (``accuracy``, ``accuracy_plus``, ``score``, ``unparseable``,
    ``n``) and ``total``, the sum of the subtask scores.
    """
    questions: dict[str, list[bool]] = defaultdict(list)
    images: dict[str, dict[str, bool]] = defaultdict(dict)
    unparseable: dict[str, int] = defaultdict(int)
    for subtask, image, response, label in answers:
        answer = read(response)
        unparseable[subtask] += answer not in ("yes", "no")
        right = answer == str(label).strip().lower()
        questions[subtask].append(right)
        images[subtask][image] = images[subtask].get(image, True) and right
    out: dict[str, Any] = {}
    for subtask, results in questions.items():
        accuracy = pct(sum(results), len(results))
        accuracy_plus = pct(sum(images[subtask].values()), len(images[subtask]))
        out[subtask] = {
            "accuracy": accuracy,
            "accuracy_plus": accuracy_plus,
            "score": accuracy + accuracy_plus,
            "unparseable": unparseable[subtask],
            "n": len(results),
        }
    out["total"] = sum(entry["score"] for entry in out.values())
    return out
