"""Readers of the video multiple-choice benchmarks' released files, one per format, all producing
:class:`Question` s for the one evaluator in :mod:`mmalign.eval.benchmarks.video_mc`.

* ``tvbench``, ``mvbench``, ``mlvu``: a folder of per-task JSON lists (``json/<task>.json``) of
  ``{video, question, candidates, answer[, start, end]}``; the videos of a task are in
  ``video_dirs[task]``, else ``media_root/<task>/``, else ``media_root``. MLVU's release names its
  files ``1_plotQA.json`` … ``7_topic_reasoning.json``: a task is named without its number
  (``needle``, as MLVU's ``choice_bench.py`` names it) and its videos may also be in
  ``media_root/<name>/``; the two generation tasks in the same folder (``8_sub_scene.json``,
  ``9_summary.json``: no ``candidates``) are not multiple-choice and are left out, with a note.
* ``videomme``: the parquet (or JSON) table with ``videoID``, ``question``, ``options``
  (``"A. …"``), ``answer`` (a letter); videos ``media_root/<videoID>.mp4``.
* ``longvideobench``: ``lvb_val.json`` with ``video_path``, ``question``, ``candidates``,
  ``correct_choice`` (an index).
* ``tempcompass``: ``multi-choice.json``, ``{video_id: {dimension: [{question, answer}]}}`` with the
  options written in the question (``"A. …"`` lines); videos ``media_root/<video_id>.mp4``.
* ``vidhalluc``: the ACH multiple-choice file, ``{index: {clip: {Question, Choices, Correct
  Answer}}}``, where several options may be correct; videos ``media_root/<clip>.mp4``.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmalign.data.jsonio import iter_json_records, number, read_json
from mmalign.errors import DataError

from ..official_parsing import vidhalluc_truth
from .base import require

logger = logging.getLogger("mmalign.eval")

LETTERS = string.ascii_uppercase
VIDEO_SUFFIXES = (".mp4", ".MP4", ".mkv", ".webm", ".avi", ".mov")


@dataclass
class Question:
    id: str
    question: str
    options: list[str]
    answer: frozenset[str]  # letters
    video: str
    group: str
    source: str
    span: tuple[float | None, float | None] | None = None
    choices: dict[str, str] | None = None  # letter → option text in the file's order (VidHalluc)


def _media(root: str | None, *parts: str) -> Path:
    return Path(root or ".").expanduser().joinpath(*parts)


def _with_suffix(folder: Path, stem: str) -> str:
    """``folder/stem.mp4`` (or another video suffix that exists)."""
    for suffix in VIDEO_SUFFIXES:
        if (folder / f"{stem}{suffix}").exists():
            return str(folder / f"{stem}{suffix}")
    return str(folder / f"{stem}.mp4")


def _files(annotation: str, suffixes: tuple[str, ...]) -> list[Path]:
    path = Path(annotation).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in suffixes)
        if not files:
            raise DataError(f"no {'/'.join(suffixes)} files in {path}")
        return files
    if not path.is_file():
        raise DataError(f"annotation file not found: {path} (set annotation=PATH)")
    return [path]


def _letter_answer(answer: Any, options: list[str], source: str, record_id: str) -> frozenset[str]:
    """The letter of ``"B"``, ``"(B)"`` or ``"B. dribbling"``."""
    letters = LETTERS[: len(options)]
    found = re.match(r"^\s*\(?([A-Z])(?![A-Za-z])", str(answer))
    if not found or found.group(1) not in letters:
        raise DataError(f"answer {answer!r} is not one of the option letters {letters}", source=source, record_id=record_id)
    return frozenset(found.group(1))


def read_mvbench_style(
    annotation: str, media_root: str | None, video_dirs: dict[str, str], segments: bool = True, mlvu: bool = False
) -> list[Question]:
    questions = []
    for path in _files(annotation, (".json", ".jsonl")):
        task = path.stem
        records = list(iter_json_records(path))
        name = re.sub(r"^\d+_", "", task) if mlvu else task
        if mlvu and records and not any("candidates" in record for _, record in records):
            logger.info("%s: a generation task (no candidates), not multiple-choice: left out", path)
            continue
        folder = _media(media_root)
        for key in dict.fromkeys((task, name)):
            if key in video_dirs:
                folder = _media(media_root, video_dirs[key])
                break
            if _media(media_root, key).is_dir():
                folder = _media(media_root, key)
                break
        for index, (line, record) in enumerate(records):
            source, record_id = f"{path}:{line}", f"{task}/{index}"
            require(record, ("video", "question", "candidates", "answer"), source, record_id)
            options = [str(c) for c in record["candidates"]]
            if str(record["answer"]) not in options:
                raise DataError(f"answer {record['answer']!r} is not among the candidates", source=source, record_id=record_id)
            span = None
            if segments and ("start" in record or "end" in record):
                span = (_seconds(record, "start", source, record_id), _seconds(record, "end", source, record_id))
            # MLVU's scorer takes the last candidate equal to the answer; they are distinct elsewhere.
            answer = len(options) - 1 - options[::-1].index(str(record["answer"]))
            questions.append(
                Question(
                    id=record_id,
                    question=str(record["question"]),
                    options=options,
                    answer=frozenset(LETTERS[answer]),
                    video=str(folder / str(record["video"])),
                    group=name if mlvu else str(record.get("question_type") or task),
                    source=source,
                    span=span,
                )
            )
    return questions


def read_mlvu(annotation: str, media_root: str | None, video_dirs: dict[str, str], segments: bool = True) -> list[Question]:
    return read_mvbench_style(annotation, media_root, video_dirs, segments, mlvu=True)


def _seconds(record: dict, key: str, source: str, record_id: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    try:
        return number(value, key)
    except ValueError as err:
        raise DataError(str(err), source=source, record_id=record_id) from None


def _table(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    data = read_json(path, "annotation file") if path.suffix == ".json" else [r for _, r in iter_json_records(path)]
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a list of questions")
    flat = []
    for entry in data:  # the JSON release nests questions under each video
        if isinstance(entry, dict) and isinstance(entry.get("questions"), list):
            flat += [{**{k: v for k, v in entry.items() if k != "questions"}, **q} for q in entry["questions"]]
        else:
            flat.append(entry)
    return flat


def read_videomme(annotation: str, media_root: str | None, **_: Any) -> list[Question]:
    questions = []
    for path in _files(annotation, (".parquet", ".json", ".jsonl")):
        for row, record in enumerate(_table(path)):
            source = f"{path}[{row}]"
            record_id = str(record.get("question_id", row))
            require(record, ("videoID", "question", "options", "answer"), source, record_id)
            options = [re.sub(r"^\s*[A-Z]\s*[.)]\s*", "", str(o)) for o in record["options"]]
            questions.append(
                Question(
                    id=record_id,
                    question=str(record["question"]),
                    options=options,
                    answer=_letter_answer(record["answer"], options, source, record_id),
                    video=_with_suffix(_media(media_root), str(record["videoID"])),
                    group=str(record.get("duration") or record.get("task_type") or "all"),
                    source=source,
                )
            )
    return questions


def read_longvideobench(annotation: str, media_root: str | None, **_: Any) -> list[Question]:
    questions = []
    for path in _files(annotation, (".json", ".jsonl")):
        for index, (line, record) in enumerate(iter_json_records(path)):
            source = f"{path}:{line}"
            record_id = str(record.get("id", index))
            require(record, ("video_path", "question", "candidates", "correct_choice"), source, record_id)
            options = [str(c) for c in record["candidates"]]
            choice = record["correct_choice"]
            if not isinstance(choice, int) or not 0 <= choice < len(options):
                raise DataError(f"correct_choice {choice!r} is not an index of the candidates", source=source, record_id=record_id)
            questions.append(
                Question(
                    id=record_id,
                    question=str(record["question"]),
                    options=options,
                    answer=frozenset(LETTERS[choice]),
                    video=str(_media(media_root, str(record["video_path"]))),
                    group=str(record.get("duration_group", "all")),
                    source=source,
                )
            )
    return questions


def _split_options(text: str) -> tuple[str, list[str]]:
    """``"What is he doing?\\nA. x\\nB. y"`` → ("What is he doing?", ["x", "y"])."""
    question, options = [], []
    for line in text.splitlines():
        found = re.match(r"^\s*([A-Z])[.)]\s*(.*)$", line)
        if found and found.group(1) == LETTERS[len(options)]:
            options.append(found.group(2).strip())
        elif options:
            options[-1] += " " + line.strip()
        else:
            question.append(line)
    return "\n".join(question).strip(), options


def read_tempcompass(annotation: str, media_root: str | None, **_: Any) -> list[Question]:
    questions = []
    for path in _files(annotation, (".json",)):
        data = read_json(path, "TempCompass file")
        if not isinstance(data, dict):
            raise DataError(f"{path}: expected {{video_id: {{dimension: [questions]}}}} (TempCompass multi-choice.json)")
        for video_id, dims in data.items():
            if not isinstance(dims, dict):
                raise DataError("expected {dimension: [questions]}", source=str(path), record_id=str(video_id))
            for dim, entries in dims.items():
                for i, record in enumerate(entries):
                    record_id = f"{video_id}/{dim}/{i}"
                    require(record, ("question", "answer"), str(path), record_id)
                    question, options = _split_options(str(record["question"]))
                    if len(options) < 2:
                        raise DataError("no 'A. …' option lines in the question", source=str(path), record_id=record_id)
                    questions.append(
                        Question(
                            id=record_id,
                            question=question,
                            options=options,
                            answer=_letter_answer(record["answer"], options, str(path), record_id),
                            video=_with_suffix(_media(media_root), str(video_id)),
                            group=str(dim),
                            source=str(path),
                        )
                    )
    return questions


def read_vidhalluc(annotation: str, media_root: str | None, **_: Any) -> list[Question]:
    questions = []
    for path in _files(annotation, (".json",)):
        data = read_json(path, "VidHalluc file")
        if not isinstance(data, dict):
            raise DataError(f"{path}: expected {{index: {{clip: question}}}} (VidHalluc ach_mcq.json)")
        for index, clips in data.items():
            if not isinstance(clips, dict):
                raise DataError("expected {clip: question}", source=str(path), record_id=str(index))
            for clip, record in clips.items():
                record_id = f"{index}/{clip}"
                require(record, ("Question", "Choices", "Correct Answer"), str(path), record_id)
                choices = record["Choices"]
                if not isinstance(choices, dict) or not choices:
                    raise DataError("Choices must map letters to options", source=str(path), record_id=record_id)
                keys = sorted(choices)
                if keys != list(LETTERS[: len(keys)]):
                    raise DataError(f"option letters {keys} are not A, B, C, …", source=str(path), record_id=record_id)
                options = [str(choices[k]) for k in keys]
                answer = vidhalluc_truth(record["Correct Answer"])
                if not answer or not answer <= set(keys):
                    raise DataError(f"correct answer {record['Correct Answer']!r} names no option", source=str(path), record_id=record_id)
                questions.append(
                    Question(
                        id=record_id,
                        question=str(record["Question"]),
                        options=options,
                        answer=answer,
                        video=_with_suffix(_media(media_root), str(clip)),
                        group="ach",
                        source=str(path),
                        choices={str(k): str(v) for k, v in choices.items()},
                    )
                )
    return questions


#: benchmark → (reader, several options may be right)
READERS: dict[str, tuple[Callable[..., list[Question]], bool]] = {
    "tvbench": (read_mvbench_style, False),
    "mvbench": (read_mvbench_style, False),
    "mlvu": (read_mlvu, False),
    "videomme": (read_videomme, False),
    "longvideobench": (read_longvideobench, False),
    "tempcompass": (read_tempcompass, False),
    "vidhalluc": (read_vidhalluc, True),
}
