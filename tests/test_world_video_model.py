"""Tests of mmalign.world.video_model and mmalign.world.video_reader: the probe targets match the
drawn frames, reduced builds of the reader and of the world's base save models that load and answer
like any Hub video model, cached, and the shipped reader is the one the default settings build."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmalign.world.video import VideoWorld
from mmalign.world.video_model import VideoPretrainConfig, build_video_world_vlm
from mmalign.world.video_reader import (
    CATEGORIES,
    MARKER,
    SHIPPED,
    VideoReaderConfig,
    build_video_reader,
    cell_labels,
    pretrained_video_reader,
)
from mmalign.world.video_writer import write_video_world
from mmalign.world.vocab import BACKGROUND

READER = VideoReaderConfig(num_clips=8, vision_steps=2, vision_batch_size=4, steps=2, batch_size=4)
REDUCED = VideoPretrainConfig(num_clips=16, steps=2, batch_size=4, reader=READER)


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


def test_reduced_build_loads_answers_and_is_cached(world, tmp_path, monkeypatch):
    monkeypatch.setenv("MMALIGN_CACHE", str(tmp_path / "cache"))
    out = build_video_world_vlm(tmp_path / "base", world.root, seed=0, pretrain=REDUCED, progress=False)
    reader = pretrained_video_reader(READER, progress=False)  # built into the cache on the way
    assert reader.parent == tmp_path / "cache" / "video_reader"
    assert json.loads((out / "mmalign_video_world_model.json").read_text())["pretrain"]["reader"]["num_clips"] == 8
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


def test_reader_build_is_deterministic_and_trains_the_tower(tmp_path):
    first = build_video_reader(tmp_path / "a", READER, progress=False)
    second = build_video_reader(tmp_path / "b", READER, progress=False)
    assert (first / "model.safetensors").read_bytes() == (second / "model.safetensors").read_bytes()
    untrained = build_video_reader(tmp_path / "c", replace(READER, vision_steps=0, steps=0), progress=False)
    tower = {path: AutoModelForImageTextToText.from_pretrained(path).model.vision_tower.state_dict()
             for path in (first, untrained)}
    assert any(not torch.equal(weights, tower[untrained][name]) for name, weights in tower[first].items())


def test_shipped_reader_matches_the_defaults_and_reads_clips(tmp_path):
    assert json.loads((SHIPPED / MARKER).read_text()) == VideoReaderConfig().spec()  # else rebuild it:
    assert pretrained_video_reader(progress=False) == SHIPPED  # python -m mmalign.world.video_reader DIR
    # it reads clips that break the regularities as well as clips that follow them (held-out questions
    # of a world it never saw, scored against the world's own answers)
    from mmalign.eval.benchmarks.video_mc import VideoMCConfig
    from mmalign.eval.runner import run as run_eval

    paths = write_video_world(tmp_path / "w", seed=5, num_train=0, num_heldout_usual=6, num_heldout_unusual=6)
    for split in ("heldout_usual", "heldout_unusual"):
        scored = run_eval(VideoMCConfig(benchmark="tvbench", model=str(SHIPPED), annotation=str(paths.mc_dir(split)),
                                        media_root=str(paths.root), num_frames=8, batch_size=6,
                                        output_dir=str(tmp_path / split), dtype="float32"), show=False)
        assert scored["accuracy"] >= 5 / 6 * 100, (split, scored)


def test_base_refuses_a_world_the_reader_cannot_read(tmp_path):
    from mmalign.world.video import VideoWorldConfig

    other = write_video_world(tmp_path / "w", seed=0, num_train=4, num_heldout_usual=0, num_heldout_unusual=0,
                              config=VideoWorldConfig(num_frames=10))
    with pytest.raises(ValueError, match="draws 10 frames of 16-px cells; the reader reads 8"):
        build_video_world_vlm(tmp_path / "base", other.root, pretrain=VideoPretrainConfig(num_clips=4))
