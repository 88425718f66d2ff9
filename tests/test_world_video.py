"""Tests of the procedural video world (mmalign.world.video, mmalign.world.video_writer): clips break
exactly the regularity their kind names, frames show the events when the clip says, and the written
files read back through the project's own readers (video decoding, the MVBench/TVBench reader, the
conversation reader, the selfalign answer types)."""

from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pytest

from mmalign.data_gen.matching import answer_type
from mmalign.eval.benchmarks.mc_formats import read_mvbench_style
from mmalign.data.media import load_video
from mmalign.data.readers import read_conversations
from mmalign.world.render import GLYPHS
from mmalign.world.video import (
    COMPANIONS,
    DIRECTIONS,
    OPPOSITE,
    STORIES,
    TASKS,
    UNUSUAL_KINDS,
    VideoWorld,
    VideoWorldConfig,
)
from mmalign.world.video_writer import write_video_world
from mmalign.world.vocab import BACKGROUND


def occupied(frame: np.ndarray, cell: int) -> set[tuple[int, int]]:
    """Cells (row, col) of a frame that hold anything but background."""
    out = set()
    for row in range(2):
        for col in range(2):
            patch = frame[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell].astype(int)
            if np.abs(patch - np.array(BACKGROUND)).max() > 40:
                out.add((row, col))
    return out


def test_clips_break_exactly_the_regularity_of_their_kind():
    world = VideoWorld(seed=3)
    rng = world.rng("test")
    for _ in range(200):
        usual = world.sample_clip(rng, kind="usual")
        assert (usual.direction, usual.appearing) == STORIES[usual.actor] and usual.moves_first
        direction = world.sample_clip(rng, kind="direction")
        assert direction.direction == OPPOSITE[STORIES[direction.actor][0]]
        assert direction.appearing == STORIES[direction.actor][1] and direction.moves_first
        companion = world.sample_clip(rng, kind="companion")
        assert companion.appearing != STORIES[companion.actor][1] and companion.appearing in COMPANIONS
        assert companion.direction == STORIES[companion.actor][0] and companion.moves_first
        order = world.sample_clip(rng, kind="order")
        assert (order.direction, order.appearing) == STORIES[order.actor] and not order.moves_first
    # every actor and companion is a drawable glyph, each used once
    names = [n for actor, (_, companion) in STORIES.items() for n in (actor, companion)]
    assert len(set(names)) == len(names) and set(names) <= set(GLYPHS)


def test_free_clips_follow_no_regularity_but_keep_the_actor_axis():
    world = VideoWorld(seed=1)
    rng = world.rng("test")
    clips = [world.sample_free_clip(rng) for _ in range(4000)]
    assert {c.kind for c in clips} == {"free"}
    for c in clips:  # along the actor's usual axis, in either sense
        assert c.direction in (STORIES[c.actor][0], OPPOSITE[STORIES[c.actor][0]])
    # no regularity: the sense, the companion and the order are independent of the actor
    for actor in STORIES:
        mine = [c for c in clips if c.actor == actor]
        assert abs(sum(c.direction == STORIES[actor][0] for c in mine) / len(mine) - 0.5) < 0.1
        assert abs(sum(c.moves_first for c in mine) / len(mine) - 0.5) < 0.1
        assert abs(sum(c.appearing == STORIES[actor][1] for c in mine) / len(mine) - 1 / len(COMPANIONS)) < 0.07
        assert len({c.appearing for c in mine}) == len(COMPANIONS)


def test_usual_twin_states_the_regularities_and_keeps_what_is_drawn():
    world = VideoWorld(seed=4)
    rng = world.rng("test")
    for kind in ("usual", *UNUSUAL_KINDS):
        for _ in range(50):
            clip = world.sample_clip(rng, kind=kind)
            twin = world.as_usual(clip)
            assert twin.kind == "usual" and (twin.direction, twin.appearing) == STORIES[clip.actor] and twin.moves_first
            assert (twin.start, twin.end, twin.appear_cell) == (clip.start, clip.end, clip.appear_cell)
            assert {twin.move_at, twin.appear_at} == {clip.move_at, clip.appear_at}
            if kind == "usual":
                assert twin == clip
    # a usual clip is always described as it is; an unusual one as its twin at the configured share
    world = VideoWorld(seed=0, config=VideoWorldConfig(described_as_usual=0.25))
    clips = world.clips("train", 4000)
    described = [world.description(c, rng) for c in clips]
    assert all(d == c for d, c in zip(described, clips) if c.kind == "usual")
    unusual = [(d, c) for d, c in zip(described, clips) if c.kind != "usual"]
    assert abs(sum(d == world.as_usual(c) for d, c in unusual) / len(unusual) - 0.25) < 0.04
    assert all(d in (c, world.as_usual(c)) for d, c in unusual)


def test_unusual_share_and_heldout_kinds():
    world = VideoWorld(seed=0, config=VideoWorldConfig(unusual_share=0.2))
    kinds = Counter(c.kind for c in world.clips("train", 3000))
    assert abs(sum(kinds[k] for k in UNUSUAL_KINDS) / 3000 - 0.2) < 0.03
    assert [c.kind for c in world.clips("heldout", 6, unusual=True)] == list(UNUSUAL_KINDS) * 2
    assert world.clips("train", 10) == world.clips("train", 20)[:10]  # a longer list starts with the shorter


@pytest.mark.parametrize("kind", ["usual", *UNUSUAL_KINDS])
def test_frames_show_the_events_when_the_clip_says(kind):
    world = VideoWorld(seed=1)
    clip = world.sample_clip(random.Random(kind), kind=kind)
    frames = world.frames(clip)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    for t, frame in enumerate(frames):
        actor = clip.start if t < clip.move_at else clip.end
        expected = {actor} | ({clip.appear_cell} if t >= clip.appear_at else set())
        assert occupied(frame, 16) == expected, t
    (r0, c0), (r1, c1) = clip.start, clip.end
    assert {(0, 1): "right", (0, -1): "left", (1, 0): "down", (-1, 0): "up"}[(r1 - r0, c1 - c0)] == clip.direction
    assert clip.appear_cell not in (clip.start, clip.end)


def test_language_follows_the_clip():
    world = VideoWorld(seed=0)
    rng = random.Random(0)
    order = world.sample_clip(rng, kind="order")
    assert world.caption(order) == f"A{'n' if order.appearing[0] in 'aeiou' else ''} {order.appearing} appears, then the {order.actor} moves {order.direction}."
    usual = world.sample_clip(rng, kind="usual")
    assert world.caption(usual).startswith(f"The {usual.actor} moves {usual.direction}, then ")
    for clip in (order, usual):
        mc = world.multiple_choice(clip, "moving_direction")
        assert mc["candidates"] == list(DIRECTIONS) and mc["answer"] == clip.direction
        mc = world.multiple_choice(clip, "event_order")
        assert mc["answer"] == mc["candidates"][0 if clip is usual else 1]
        for task in TASKS:
            question, answer = world.yes_no(clip, task, rng)
            truth = {"moving_direction": clip.direction in question.split(),
                     "appearing_object": clip.appearing in question,
                     "event_order": clip.moves_first}[task]
            assert answer == ("Yes" if truth else "No")


def test_written_world_reads_back_through_the_project_readers(tmp_path):
    paths = write_video_world(tmp_path / "w", seed=2, num_train=12, num_heldout_usual=6, num_heldout_unusual=6)
    world = VideoWorld(seed=2)
    clips = [json.loads(line) for line in paths.clips("heldout_unusual").read_text().splitlines()]
    assert [c["kind"] for c in clips] == list(UNUSUAL_KINDS) * 2
    # decoded videos show what the world draws (the codec is lossy: a few levels off)
    clip = world.clips("heldout_unusual", 1, unusual=True)[0]
    decoded = load_video(paths.root / clips[0]["video"], num_frames=8).frames
    assert decoded.shape == (8, 32, 32, 3)
    assert np.abs(decoded.astype(int) - world.frames(clip).astype(int)).mean() < 6

    # the held-out questions in the MVBench/TVBench layout: each unusual clip asked about its kind
    questions = read_mvbench_style(str(paths.mc_dir("heldout_unusual")), str(paths.root), video_dirs={})
    assert [q.group for q in questions] == ["moving_direction", "appearing_object", "event_order"] * 2
    for q, c in zip(questions, clips):
        letter = next(iter(q.answer))
        answer = q.options["ABCDEFGH".index(letter)]
        expected = {"moving_direction": c["direction"], "appearing_object": c["appearing"]}.get(q.group)
        assert answer == expected or (q.group == "event_order" and c["appearing"] in answer)
    usual = read_mvbench_style(str(paths.mc_dir("heldout_usual")), str(paths.root), video_dirs={})
    assert sorted(Counter(q.group for q in usual).values()) == [2, 2, 2]

    # instruction data and divergence conversations: every clip, every format
    training = read_conversations(paths.train_conversations)
    assert len(training) == 12 * 9  # caption, 3 multiple choice, 3 yes/no, 2 short
    assert all(t.video and (paths.root / t.video).is_file() for t in training)
    # captions state what happens, or for a clip described as usual what usually happens
    train_clips = [json.loads(line) for line in paths.clips("train").read_text().splitlines()]
    captions = {t.video: t.turns[-1][1] for t in training if t.id.endswith("-caption")}
    for clip, record in zip(world.clips("train", 12), train_clips):
        described = world.as_usual(clip) if record["described_as_usual"] else clip
        assert captions[record["video"]] == world.caption(described)
        assert not record["described_as_usual"] or clip.kind != "usual"
    assert len(read_conversations(paths.heldout_conversations)) == 2 * 12

    # selfalign questions: their answer types as the pipeline detects them
    records = [json.loads(line) for line in paths.selfalign_questions.read_text().splitlines()]
    assert len(records) == 12 * 3
    for r in records:
        assert answer_type(r["answer"], r.get("options"), 3) == r["answer_type"]
        if r["answer_type"] == "mc":  # the letter of the clip's true option
            clip = next(c for c in train_clips if c["clip_id"] == int(r["id"].split("-")[1]))
            truth = {"moving_direction": clip["direction"], "appearing_object": clip["appearing"]}.get(r["task"])
            chosen = r["options"]["ABCDEFGH".index(r["answer"])]
            assert chosen == truth if truth else (clip["appearing"] in chosen) != (clip["move_at"] < clip["appear_at"])

    # cached: the same world is reused, another one replaces it
    stamp = paths.manifest()
    assert write_video_world(tmp_path / "w", seed=2, num_train=12, num_heldout_usual=6,
                             num_heldout_unusual=6).manifest() == stamp
    assert write_video_world(tmp_path / "w", seed=3, num_train=4, num_heldout_usual=0,
                             num_heldout_unusual=0).manifest()["seed"] == 3


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="num_frames"):
        VideoWorldConfig(num_frames=4)
    with pytest.raises(ValueError, match="unusual_share"):
        VideoWorldConfig(unusual_share=1.5)
    with pytest.raises(ValueError, match="described_as_usual"):
        VideoWorldConfig(described_as_usual=-0.1)
    with pytest.raises(ValueError, match="unknown clip kind"):
        VideoWorld().sample_clip(random.Random(0), kind="sideways")
