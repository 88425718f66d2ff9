"""Yes/no questions for DPA's ``qa`` pairs: read, filter to yes/no answers, balance yes and no.

Sources: Visual Genome's ``question_answers.json``, and any JSON/JSONL file of records with
``question``, ``answer`` and ``image`` (a path) or ``image_id`` (an image of the annotation set).
Questions whose answer is not yes or no are left out (counted); the kept ones are balanced by
drawing, with the seed, as many "no" as "yes" questions (or the other way round).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmalign.data.jsonio import iter_json_records
from mmalign.errors import DataError

from .scene import Scene
from .vg import iter_vg

Problem = Callable[[str, str], None]
_YES_NO_RE = re.compile(r"^\s*(yes|no)\b[\s.!,]*$", re.IGNORECASE)


@dataclass(frozen=True)
class YesNoQuestion:
    id: str
    question: str
    answer: str  # "yes" or "no"
    image: str
    source: str


def yes_no(answer: object) -> str | None:
    match = _YES_NO_RE.match(str(answer)) if isinstance(answer, str) else None
    return match.group(1).lower() if match else None


def read_vg_qa(vg_dir: str | Path, scenes: dict[str, Scene], problem: Problem) -> list[YesNoQuestion]:
    out = []
    for image_id, source, record in iter_vg(vg_dir, "question_answers", problem):
        scene = scenes.get(image_id)
        for qa in record.get("qas") or []:
            qa_id = qa.get("qa_id") if isinstance(qa, dict) else None
            if scene is None or not isinstance(qa, dict) or not str(qa.get("question", "")).strip():
                problem("invalid_record", str(DataError("question without image or text; skipped", source=source, record_id=qa_id)))
                continue
            answer = yes_no(qa.get("answer"))
            if answer is None:  # most Visual Genome questions are not yes/no ones
                continue
            out.append(YesNoQuestion(f"vgqa-{qa_id}", str(qa["question"]).strip(), answer, scene.image, source))
    return out


def read_qa_file(path: str | Path, scenes: dict[str, Scene], problem: Problem) -> list[YesNoQuestion]:
    out = []
    for index, (lineno, record) in enumerate(iter_json_records(Path(path).expanduser())):
        source = f"{path}:{lineno}"
        record_id = str(record.get("id", record.get("question_id", index)))
        image = record.get("image")
        if image is None and str(record.get("image_id")) in scenes:
            image = scenes[str(record["image_id"])].image
        question = str(record.get("question", "")).strip()
        if not question or not image or "answer" not in record:
            missing = "question" if not question else "image" if not image else "answer (ground truth)"
            problem("no_ground_truth" if missing.startswith("answer") else "invalid_record",
                    str(DataError(f"no {missing}; skipped", source=source, record_id=record_id)))
            continue
        answer = yes_no(record["answer"])
        if answer is not None:
            out.append(YesNoQuestion(f"qa-{record_id}", question, answer, str(image), source))
    return out


def balance(questions: list[YesNoQuestion], seed: int, max_questions: int | None = None) -> list[YesNoQuestion]:
    """As many yes as no questions (at most ``max_questions`` in all), drawn with ``seed``."""
    rng = random.Random(f"{seed}:qa")
    groups = {a: sorted((q for q in questions if q.answer == a), key=lambda q: q.id) for a in ("yes", "no")}
    keep = min(len(groups["yes"]), len(groups["no"]))
    if max_questions is not None:
        keep = min(keep, max_questions // 2)
    chosen = []
    for answer in ("yes", "no"):
        chosen += rng.sample(groups[answer], keep)
    return sorted(chosen, key=lambda q: q.id)
