"""A procedural video world with temporal regularities: clips, their frames, captions and questions.

Every clip tells one *story*: an actor object moves one cell across a 2×2 grid, and a companion
object appears in another cell. Each story has strong regularities in the training distribution:

* a usual **direction** (the bird moves right, the boat moves left, …);
* a usual **companion** (when the bird moves, a bee appears);
* a usual **order of events** (the actor moves first, then the companion appears).

A configurable share of clips is *unusual* and breaks exactly one of them (``kind``): the actor
moves the other way (``direction``), another object appears instead of the companion
(``companion``), or the companion appears before the actor moves (``order``). Most unusual
training clips are *described as usual* (``VideoWorldConfig.described_as_usual``): their captions
and answers state what usually happens, as instruction data written from a script or by a
text-only model does. A model that reads clips and is then instruction-tuned on such data answers
unusual clips the usual way (wrong direction, an object that did not appear, the usual order) while
still seeing what happened, like a video LLM that leans on its language prior. *Free* clips
(:meth:`VideoWorld.sample_free_clip`) follow no regularity: they are what the pretrained reader
(:mod:`mmalign.world.video_reader`) learns to read on. Frames are drawn with the image world's glyphs
(:mod:`mmalign.world.render`); a cell is 16 px, so a 32-px frame is 2×2 cells, one cell per pooled
video token of a LLaVA-OneVision tower (32 px, patch 8, 2×2 pooling).

Questions come in the formats of the video benchmarks: multiple choice (MVBench/TVBench's
``{question, candidates, answer}``, the candidates in a fixed order per task), yes/no, and short answers.

>>> world = VideoWorld(seed=0)
>>> clip = world.sample_clip(world.rng("demo"), kind="direction")
>>> frames = world.frames(clip)            # (8, 32, 32, 3) uint8
>>> world.caption(clip)
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .render import render_scene
from .scenes import SceneObject
from .vocab import COLOURS

#: actor → (usual direction, usual companion); every actor and companion is one of the image
#: world's glyphs, each used once.
STORIES: dict[str, tuple[str, str]] = {
    "bird": ("right", "bee"),
    "boat": ("left", "shell"),
    "ball": ("down", "kite"),
    "pen": ("up", "book"),
    "cup": ("right", "fork"),
    "lamp": ("left", "clock"),
    "tree": ("down", "flower"),
    "plate": ("up", "bowl"),
}
DIRECTIONS = ("left", "right", "up", "down")
COMPANIONS = tuple(sorted(companion for _, companion in STORIES.values()))
OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}
UNUSUAL_KINDS = ("direction", "companion", "order")
#: the question task that each unusual kind changes the answer of
KIND_TASK = {"direction": "moving_direction", "companion": "appearing_object", "order": "event_order"}
TASKS = ("moving_direction", "appearing_object", "event_order")
CAPTION_PROMPT = "Describe the video."
MC_HINT = "Answer with the option's letter from the given choices directly."
YESNO_HINT = "Answer yes or no."
SHORT_HINT = "Answer the question using a single word or phrase."
GRID = 2


@dataclass(frozen=True)
class VideoWorldConfig:
    """How clips are drawn.

    Attributes:
        num_frames: frames per clip.
        cell_px: pixels per cell side; a frame is ``2 * cell_px`` pixels a side.
        unusual_share: share of unusual clips among those drawn without saying which (the training
            split); the unusual kinds are equally likely.
        described_as_usual: share of unusual training clips whose captions and answers describe
            their usual twin (:meth:`VideoWorld.as_usual`) instead of what happens.
        fps: frame rate of the written files.
    """

    num_frames: int = 8
    cell_px: int = 16
    unusual_share: float = 0.3
    described_as_usual: float = 0.7
    fps: int = 4

    def __post_init__(self) -> None:
        if self.num_frames < 6:
            raise ValueError(f"num_frames must be at least 6 (two events and frames around them), got {self.num_frames}")
        for name in ("unusual_share", "described_as_usual"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]")
        if self.cell_px % 2:
            raise ValueError("cell_px must be even (video files need even frame sizes)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Clip:
    """One clip: ``actor`` moves from ``start`` to ``end`` (cells (row, col)) at frame ``move_at``;
    ``appearing`` appears in ``appear_cell`` at frame ``appear_at``; ``kind`` is ``"usual"`` or
    the regularity it breaks."""

    actor: str
    kind: str
    direction: str
    start: tuple[int, int]
    end: tuple[int, int]
    appearing: str
    appear_cell: tuple[int, int]
    move_at: int
    appear_at: int
    actor_colour: str
    appearing_colour: str

    @property
    def companion(self) -> str:
        """The object that usually appears with this actor (``appearing`` unless unusual)."""
        return STORIES[self.actor][1]

    @property
    def moves_first(self) -> bool:
        return self.move_at < self.appear_at

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "start": list(self.start), "end": list(self.end), "appear_cell": list(self.appear_cell)}


class VideoWorld:
    """Samples, draws, captions and questions clips, deterministically per seed."""

    def __init__(self, seed: int = 0, config: VideoWorldConfig | None = None):
        self.seed = int(seed)
        self.config = config or VideoWorldConfig()

    def rng(self, stream: str) -> random.Random:
        """A generator for the named stream (e.g. a split), independent of every other stream."""
        return random.Random(f"mmalign-video-world:{self.seed}:{stream}")

    # -- sampling -----------------------------------------------------------------------------

    def sample_clip(self, rng: random.Random, unusual: bool | None = None, kind: str | None = None) -> Clip:
        """Draw one clip; ``unusual=None`` draws with ``config.unusual_share``; ``kind`` forces
        ``"usual"`` or one of :data:`UNUSUAL_KINDS`."""
        if kind is None:
            if unusual is None:
                unusual = rng.random() < self.config.unusual_share
            kind = rng.choice(UNUSUAL_KINDS) if unusual else "usual"
        if kind not in ("usual", *UNUSUAL_KINDS):
            raise ValueError(f"unknown clip kind {kind!r}")
        actor = rng.choice(sorted(STORIES))
        direction, appearing = STORIES[actor]
        if kind == "direction":
            direction = OPPOSITE[direction]
        if kind == "companion":
            appearing = rng.choice([c for c in COMPANIONS if c != appearing])
        return self._place(rng, actor, kind, direction, appearing, moves_first=kind != "order")

    def sample_free_clip(self, rng: random.Random) -> Clip:
        """Draw a clip that follows no regularity (``kind="free"``): the actor moves along its usual
        axis in either sense, any companion appears, and either event comes first. Reading such clips
        takes the frames, not the story."""
        actor = rng.choice(sorted(STORIES))
        usual_direction = STORIES[actor][0]
        direction = rng.choice((usual_direction, OPPOSITE[usual_direction]))
        return self._place(rng, actor, "free", direction, rng.choice(COMPANIONS), moves_first=rng.random() < 0.5)

    def as_usual(self, clip: Clip) -> Clip:
        """The clip's usual twin: the same objects, cells and frames of events, with the story's
        direction, companion and order (what a description that states the regularities says)."""
        direction, companion = STORIES[clip.actor]
        early, late = sorted((clip.move_at, clip.appear_at))
        return replace(clip, kind="usual", direction=direction, appearing=companion, move_at=early, appear_at=late)

    def description(self, clip: Clip, rng: random.Random) -> Clip:
        """What a training description of ``clip`` states: its usual twin for a share
        ``config.described_as_usual`` of unusual clips (one draw of ``rng`` per unusual clip), else
        the clip itself."""
        if clip.kind in UNUSUAL_KINDS and rng.random() < self.config.described_as_usual:
            return self.as_usual(clip)
        return clip

    def _place(self, rng: random.Random, actor: str, kind: str, direction: str, appearing: str, moves_first: bool) -> Clip:
        line = rng.randrange(GRID)  # the row (or column) the actor moves along
        step = {"left": (0, 1, 0), "right": (0, 0, 1), "up": (1, 1, 0), "down": (1, 0, 1)}[direction]
        vertical, first, last = step
        start, end = ((first, line), (last, line)) if vertical else ((line, first), (line, last))
        other = 1 - line  # the companion appears off the actor's path
        appear_cell = (rng.randrange(GRID), other) if vertical else (other, rng.randrange(GRID))
        n = self.config.num_frames
        early, late = rng.randrange(2, n // 2), rng.randrange(n // 2 + 1, n - 1)
        move_at, appear_at = (early, late) if moves_first else (late, early)
        colours = sorted(COLOURS)
        return Clip(actor, kind, direction, start, end, appearing, appear_cell, move_at, appear_at,
                    rng.choice(colours), rng.choice(colours))

    def clips(self, stream: str, count: int, unusual: bool | None = None) -> list[Clip]:
        """``count`` clips of the named stream; a longer list starts with the shorter one. Held-out
        unusual clips (``unusual=True``) cycle through the kinds, so every kind is equally present."""
        rng = self.rng(stream)
        if unusual:
            return [self.sample_clip(rng, kind=UNUSUAL_KINDS[i % len(UNUSUAL_KINDS)]) for i in range(count)]
        return [self.sample_clip(rng, unusual) for _ in range(count)]

    # -- frames -------------------------------------------------------------------------------

    @property
    def frame_size(self) -> int:
        return GRID * self.config.cell_px

    def frames(self, clip: Clip) -> np.ndarray:
        """The clip as uint8 frames ``(num_frames, size, size, 3)``."""
        out = []
        for t in range(self.config.num_frames):
            row, col = clip.start if t < clip.move_at else clip.end
            objects = [SceneObject(clip.actor, clip.actor_colour, "large", row, col)]
            if t >= clip.appear_at:
                objects.append(SceneObject(clip.appearing, clip.appearing_colour, "large", *clip.appear_cell))
            out.append(np.asarray(render_scene(_Frame(tuple(objects)), GRID, self.config.cell_px)))
        return np.stack(out)

    # -- language -----------------------------------------------------------------------------

    def caption(self, clip: Clip) -> str:
        """``"The bird moves right, then a bee appears."`` (events in the order they happen)."""
        move = f"the {clip.actor} moves {clip.direction}"
        appear = f"{_article(clip.appearing)} {clip.appearing} appears"
        first, second = (move, appear) if clip.moves_first else (appear, move)
        return f"{first[0].upper()}{first[1:]}, then {second}."

    def multiple_choice(self, clip: Clip, task: str) -> dict[str, Any]:
        """One question of ``task`` as MVBench/TVBench write it: ``question``, ``candidates``,
        ``answer`` (the right candidate's text). The candidates come in a fixed order per task (every
        direction; every companion; moving, then appearing), as in MVBench's fixed-option tasks: a
        model this small then needs no skill at finding a shuffled option, only at reading the clip."""
        if task == "moving_direction":
            return {"question": f"Which direction does the {clip.actor} move?", "candidates": list(DIRECTIONS),
                    "answer": clip.direction, "question_type": task}
        if task == "appearing_object":
            return {"question": "Which object appears in the video?", "candidates": list(COMPANIONS),
                    "answer": clip.appearing, "question_type": task}
        if task == "event_order":
            move, appear = f"The {clip.actor} moves.", f"{_article(clip.appearing).capitalize()} {clip.appearing} appears."
            return {"question": "What happens first?", "candidates": [move, appear],
                    "answer": move if clip.moves_first else appear, "question_type": task}
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")

    def yes_no(self, clip: Clip, task: str, rng: random.Random) -> tuple[str, str]:
        """``(question, "Yes" | "No")``: asked about the truth or the usual/tempting alternative,
        equally often."""
        truthful = rng.random() < 0.5
        if task == "moving_direction":
            usual = STORIES[clip.actor][0]
            claim = clip.direction if truthful else (OPPOSITE[clip.direction] if clip.direction == usual else usual)
            return f"Does the {clip.actor} move {claim}?", "Yes" if claim == clip.direction else "No"
        if task == "appearing_object":
            claim = clip.appearing if truthful else (clip.companion if clip.appearing != clip.companion else
                                                     rng.choice([c for c in COMPANIONS if c != clip.appearing]))
            return f"Does {_article(claim)} {claim} appear in the video?", "Yes" if claim == clip.appearing else "No"
        if task == "event_order":
            return (f"Does the {clip.actor} move before the {clip.appearing} appears?",
                    "Yes" if clip.moves_first else "No")
        raise ValueError(f"unknown task {task!r}")

    def short(self, clip: Clip, task: str) -> tuple[str, str] | None:
        """``(question, answer)`` with a one- or two-word answer; ``None`` for ``event_order``."""
        if task == "moving_direction":
            return f"In which direction does the {clip.actor} move?", clip.direction
        if task == "appearing_object":
            return "What appears in the video?", f"{_article(clip.appearing)} {clip.appearing}"
        return None

    def corpus(self) -> list[str]:
        """Text covering every word the world writes, for training a tokenizer."""
        lines = [CAPTION_PROMPT, MC_HINT, YESNO_HINT, SHORT_HINT, "Which object appears in the video?",
                 "What happens first?", "What appears in the video?", "Yes", "No", "A", "B", "C", "D"]
        for actor in STORIES:
            for direction in DIRECTIONS:
                lines.append(f"The {actor} moves {direction}. Which direction does the {actor} move?")
                lines.append(f"In which direction does the {actor} move? Does the {actor} move {direction}?")
            for _, companion in STORIES.values():
                lines.append(f"The {actor} moves {DIRECTIONS[0]}, then {_article(companion)} {companion} appears.")
                lines.append(f"Does the {actor} move before the {companion} appears?")
        return lines


@dataclass(frozen=True)
class _Frame:
    """What :func:`~mmalign.world.render.render_scene` draws: the objects visible in one frame."""

    objects: tuple[SceneObject, ...]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
