"""``write_video_world``: a video world's clips and question files on disk, built once and cached.

Layout under the root (paths in the files are relative to the root, which is the ``media_root``):

```
videos/<clip_id>.mp4                    every split's clips (PyAV, H.264 or MPEG-4)
clips_<split>.jsonl                     the clips as drawn (kind, events, caption)
train_conversations.jsonl               instruction data: per training clip its caption and its
                                        questions in every format (LLaVA conversation format), for
                                        most unusual clips written about their usual twin
                                        (VideoWorldConfig.described_as_usual; clips_train.jsonl's
                                        ``described_as_usual`` says which)
selfalign_questions.jsonl               questions on the training clips for the selfalign pipeline
                                        ({id, question, answer, options?, video, answer_type}; a
                                        multiple-choice answer is the option's letter)
mc/<split>/json/clips.json              held-out multiple-choice questions, MVBench/TVBench layout
                                        ({video, question, candidates, answer, question_type}; the
                                        evaluator groups them by question_type, the task)
heldout_conversations.jsonl             held-out clips' true answers and captions (a divergence set)
mmalign_video_world.json                what was built (written last)
```

Splits: ``train`` follows the configured unusual share; ``heldout_usual`` holds only usual clips,
``heldout_unusual`` only unusual ones (the kinds in turn). A held-out clip gets one
multiple-choice question: on an unusual clip the one whose answer its kind changes, on a usual clip
the tasks in turn. Clip ids are ``k * 1_000_000 + i`` with k the split's rank.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..cache import build_cached
from ..data.jsonio import write_json, write_jsonl
from ..data.media import write_video
from .video import (
    CAPTION_PROMPT,
    KIND_TASK,
    MC_HINT,
    SHORT_HINT,
    TASKS,
    YESNO_HINT,
    Clip,
    VideoWorld,
    VideoWorldConfig,
)

SPLITS = ("train", "heldout_usual", "heldout_unusual")
_UNUSUAL = {"train": None, "heldout_usual": False, "heldout_unusual": True}
_MARKER = "mmalign_video_world.json"
_FORMAT_VERSION = 5
LETTERS = string.ascii_uppercase


@dataclass(frozen=True)
class VideoWorldPaths:
    """Where :func:`write_video_world` put everything."""

    root: Path

    def clips(self, split: str) -> Path:
        return self.root / f"clips_{_check(split)}.jsonl"

    def mc_dir(self, split: str) -> Path:
        """The MVBench/TVBench-style question folder of a held-out split (``annotation=`` of the
        ``tvbench``/``mvbench`` evaluator, with ``media_root`` the world's root)."""
        return self.root / "mc" / _check(split) / "json"

    def mc_file(self, split: str) -> Path:
        return self.mc_dir(split) / "clips.json"

    @property
    def train_conversations(self) -> Path:
        return self.root / "train_conversations.jsonl"

    @property
    def selfalign_questions(self) -> Path:
        return self.root / "selfalign_questions.jsonl"

    @property
    def heldout_conversations(self) -> Path:
        return self.root / "heldout_conversations.jsonl"

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.root / _MARKER).read_text(encoding="utf-8"))


def _check(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


def placed_clips(world: VideoWorld, split: str, count: int) -> list[tuple[int, str, Clip]]:
    """``(clip_id, video path, clip)`` of the first ``count`` clips of ``split``."""
    base = SPLITS.index(_check(split)) * 1_000_000
    clips = world.clips(split, count, unusual=_UNUSUAL[split])
    return [(base + i + 1, f"videos/{base + i + 1}.mp4", clip) for i, clip in enumerate(clips)]


def write_video_world(
    root: str | Path,
    seed: int = 0,
    num_train: int = 2000,
    num_heldout_usual: int = 150,
    num_heldout_unusual: int = 150,
    config: VideoWorldConfig | None = None,
) -> VideoWorldPaths:
    """Write the video world of ``seed`` under ``root`` (see the module docstring); return its paths.

    Deterministic for (seed, counts, config). A root holding this exact world is reused; one
    holding another is rebuilt; a non-empty folder holding no world raises ``FileExistsError``.
    Written aside and moved into place, so a killed run leaves nothing half written.
    """
    world = VideoWorld(seed, config)
    counts = {"train": num_train, "heldout_usual": num_heldout_usual, "heldout_unusual": num_heldout_unusual}
    for split, count in counts.items():
        if count < 0:
            raise ValueError(f"num_{split} must be >= 0, got {count}")
    spec = {"format_version": _FORMAT_VERSION, "seed": int(seed), "counts": counts, "config": world.config.to_dict()}
    build_cached(root, spec, lambda tmp: _write_into(tmp, world, counts), marker=_MARKER, what="video world")
    return VideoWorldPaths(Path(root))


def _write_into(root: Path, world: VideoWorld, counts: dict[str, int]) -> None:
    placed = {split: placed_clips(world, split, counts[split]) for split in SPLITS}
    total = sum(counts.values())
    with tqdm(total=total, desc="video world clips", unit="clip", disable=total < 500) as bar:
        for items in placed.values():
            for _, video, clip in items:
                write_video(root / video, world.frames(clip), fps=world.config.fps)
                bar.update()
    paths = VideoWorldPaths(root)
    describe = world.rng("descriptions")
    described = {i: world.description(c, describe) for i, _, c in placed["train"]}
    for split, items in placed.items():
        write_jsonl(paths.clips(split), [{"clip_id": i, "video": v, "split": split, "caption": world.caption(c),
                                          **c.to_dict(), **_described(described.get(i), c)} for i, v, c in items])
    rng = world.rng("questions")
    training, selfalign = [], []
    for clip_id, video, clip in placed["train"]:
        training += training_conversations(world, clip_id, video, described[clip_id], rng)
        selfalign += selfalign_questions(world, clip_id, video, clip, rng)  # asked about what happens
    write_jsonl(paths.train_conversations, training)
    write_jsonl(paths.selfalign_questions, selfalign)
    heldout = []
    for split in ("heldout_usual", "heldout_unusual"):
        questions = []
        for i, (clip_id, video, clip) in enumerate(placed[split]):
            task = KIND_TASK.get(clip.kind) or TASKS[i % len(TASKS)]
            question = world.multiple_choice(clip, task)
            questions.append({"video": video, "clip_id": clip_id, "kind": clip.kind, **question})
            heldout.append(_conversation(f"{split}-{clip_id}-mc", video, mc_prompt(question["question"], question["candidates"]),
                                         mc_answer(question)))
            heldout.append(_conversation(f"{split}-{clip_id}-caption", video, CAPTION_PROMPT, world.caption(clip)))
        paths.mc_dir(split).mkdir(parents=True)
        write_json(paths.mc_file(split), questions)
    write_jsonl(paths.heldout_conversations, heldout)


def _described(description: Clip | None, clip: Clip) -> dict[str, Any]:
    return {} if description is None else {"described_as_usual": description != clip}


def mc_prompt(question: str, candidates: list[str]) -> str:
    """A multiple-choice prompt as the video evaluator and the selfalign pipeline write it."""
    return "\n".join([question, *(f"{LETTERS[i]}. {c}" for i, c in enumerate(candidates)), MC_HINT])


def mc_answer(question: dict[str, Any]) -> str:
    """The answer to a multiple-choice question as the world's models give it: the letter in
    parentheses, ``(B)``. The opening parenthesis keeps the letter ``A`` apart from the article
    that opens captions, so that the first answer token says the format and the second the choice."""
    return f"({LETTERS[question['candidates'].index(question['answer'])]})"


def _conversation(record_id: str, video: str, prompt: str, answer: str) -> dict[str, Any]:
    return {"id": record_id, "video": video,
            "conversations": [{"from": "human", "value": f"<video>\n{prompt}"}, {"from": "gpt", "value": answer}]}


def training_conversations(world: VideoWorld, clip_id: int, video: str, clip: Clip, rng: random.Random) -> list[dict[str, Any]]:
    """A training clip's pretraining samples: its caption, and every task as multiple choice,
    yes/no and (where it has one) a short answer."""
    out = [_conversation(f"train-{clip_id}-caption", video, CAPTION_PROMPT, world.caption(clip))]
    for task in TASKS:
        mc = world.multiple_choice(clip, task)
        out.append(_conversation(f"train-{clip_id}-{task}-mc", video, mc_prompt(mc["question"], mc["candidates"]),
                                 mc_answer(mc)))
        question, answer = world.yes_no(clip, task, rng)
        out.append(_conversation(f"train-{clip_id}-{task}-yesno", video, f"{question}\n{YESNO_HINT}", answer))
        short = world.short(clip, task)
        if short:
            out.append(_conversation(f"train-{clip_id}-{task}-short", video, f"{short[0]}\n{SHORT_HINT}", short[1]))
    return out


def selfalign_questions(world: VideoWorld, clip_id: int, video: str, clip: Clip, rng: random.Random) -> list[dict[str, Any]]:
    """Questions on a training clip for the ``selfalign`` pipeline: every task once, in a format
    drawn at random (multiple choice half the time, else yes/no or a short answer)."""
    out = []
    for task in TASKS:
        form = rng.choice(("mc", "mc", "yesno", "short"))
        short = world.short(clip, task)
        if form == "short" and short is None:
            form = "yesno"
        record: dict[str, Any] = {"id": f"train-{clip_id}-{task}", "video": video, "task": task, "kind": clip.kind}
        if form == "mc":
            mc = world.multiple_choice(clip, task)
            # the answer as its letter: an option text may itself open with "A " ("A bee appears.")
            record.update(question=mc["question"], options=mc["candidates"],
                          answer=LETTERS[mc["candidates"].index(mc["answer"])], answer_type="mc")
        elif form == "yesno":
            question, answer = world.yes_no(clip, task, rng)
            record.update(question=question, answer=answer, answer_type="yesno")
        else:
            record.update(question=short[0], answer=short[1], answer_type="short")
        out.append(record)
    return out
