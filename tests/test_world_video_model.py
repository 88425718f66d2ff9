"""Tests of mmalign.world.video_model: the probe targets match the drawn frames, and a reduced build
of the video world's base saves a model that loads and answers like any Hub video model, cached."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmalign.world.video import VideoWorld
from mmalign.world.video_model import CATEGORIES, VideoPretrainConfig, build_video_world_vlm, cell_labels
from mmalign.world.video_writer import write_video_world
from mmalign.world.vocab import BACKGROUND

REDUCED = VideoPretrainConfig(num_clips=16, vision_steps=2, vision_batch_size=4, steps=2, batch_size=4)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return write_video_world(tmp_path_factory.mktemp("video_world") / "w", seed=0, num_train=16,
                             num_heldout_usual=3, num_heldout_unusual=3)


def test_probe_targets_are_what_each_cell_shows(world):
    drawn = VideoWorld(seed=0)
    clips = [json.loads(line) for line in world.clips("train").read_text().splitlines()]
    for record, clip in zip(clips, drawn.clips("train", len(clips))):
        category, _ = cell_labels(record, 8)
        frames = drawn.frames(clip)
        for t in range(8):
            for cell in range(4):
                row, col = divmod(cell, 2)
                patch = frames[t, row * 16 : (row + 1) * 16, col * 16 : (col + 1) * 16].astype(int)
                assert (np.abs(patch - np.array(BACKGROUND)).max() > 40) == (category[t][cell] > 0)
        shown = {CATEGORIES[c - 1] for frame in category for c in frame if c}
        assert shown == {clip.actor, clip.appearing}


def test_reduced_build_loads_answers_and_is_cached(world, tmp_path):
    out = build_video_world_vlm(tmp_path / "base", world.root, seed=0, pretrain=REDUCED, progress=False)
    model = AutoModelForImageTextToText.from_pretrained(out).eval()
    processor = AutoProcessor.from_pretrained(out)
    assert type(model).__name__ == "LlavaOnevisionForConditionalGeneration"
    from mmalign.eval.benchmarks.base import Item
    from mmalign.eval.generation import Sampling, TransformersBackend

    item = Item(id="0", prompt="Describe the video.", video=str(world.root / "videos/1.mp4"))
    assert len(TransformersBackend(model, processor, num_frames=8).generate([item], Sampling(max_new_tokens=4))) == 1
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert build_video_world_vlm(tmp_path / "base", world.root, seed=0, pretrain=REDUCED, progress=False) == out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_build_needs_enough_training_clips(world, tmp_path):
    with pytest.raises(ValueError, match="has 16 training clips; pretraining needs 17"):
        build_video_world_vlm(tmp_path / "base", world.root, pretrain=VideoPretrainConfig(num_clips=17))
