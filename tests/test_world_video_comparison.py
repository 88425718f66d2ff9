"""The video experiment (``recipe=tiny_video``), reduced to seconds: the world, its base, the base's
self-alignment pairs and RRPO are built and run through the real entry points, the pairs are the
base's own wrong answers, and the comparison covers every held-out clip of both splits."""

from __future__ import annotations

import json
import re

import pytest

from mmalign.config import load_config
from mmalign.data.tags import strip_tags
from mmalign.train import main, run
from mmalign.world import video_assets
from mmalign.world.video_model import VideoPretrainConfig

REDUCED = video_assets.VideoExperiment(
    num_train=24, num_heldout=6,
    pretrain=VideoPretrainConfig(num_clips=24, steps=6, batch_size=8),  # from the shipped reader
    gen_overrides=("perturbations=[none,reverse]",),
)


@pytest.fixture
def reduced(monkeypatch, tmp_path):
    monkeypatch.setenv("MMALIGN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(video_assets, "EXPERIMENT", REDUCED)
    return tmp_path


def test_tiny_video_recipe_aligns_the_base_on_its_own_mistakes(reduced):
    out = reduced / "run"
    run(load_config(["recipe=tiny_video", "max_steps=2", f"output_dir={out}", "disable_tqdm=true"]))
    assets = video_assets.prepare_video_world(0)  # cached: what the run used
    result = json.loads((out / "world_comparison.json").read_text())
    assert result["method"] == "rrpo" and result["samples_per_split"] == 6
    for label in ("base", "rrpo"):
        for split in ("usual", "unusual"):
            assert 0 <= result["models"][label][split]["accuracy"] <= 100
    assert set(result["models"]["base"]["unusual"]["groups"]) == {"moving_direction", "appearing_object", "event_order"}
    assert result["kl_per_token"] > 0 and (out / "adapter_config.json").is_file()
    assert (out / "world_comparison.md").read_text().startswith("Held-out video world clips (6 usual, 6 unusual)")

    # The pairs are the base's own answers on the original clips: ask the base again.
    from mmalign.eval.benchmarks.base import Item
    from mmalign.eval.generation import Sampling, TransformersBackend
    from transformers import AutoModelForImageTextToText, AutoProcessor

    pairs = [json.loads(line) for line in assets.pairs.read_text().splitlines()]
    originals = [p for p in pairs if p["source"] == "selfalign:none"][:8]
    assert originals
    model = AutoModelForImageTextToText.from_pretrained(assets.base).eval()
    backend = TransformersBackend(model, AutoProcessor.from_pretrained(assets.base), num_frames=8)
    items = [Item(id=p["id"], prompt=p["prompt"], video=str(assets.root / p["video"])) for p in originals]
    answers = backend.generate(items, Sampling(max_new_tokens=8))
    assert [strip_tags(p["rejected"]) for p in originals] == answers
    questions = {q["id"]: q for q in map(json.loads, (assets.root / "selfalign_questions.jsonl").read_text().splitlines())}
    for p in pairs:
        q = questions[p["id"].rsplit("-", 1)[0]]
        if q["answer_type"] == "mc":  # the chosen answer names the true option's letter
            assert re.search(rf"\b{q['answer']}\b", strip_tags(p["chosen"])), p


def test_video_world_names_are_checked_before_anything_is_built(reduced, capsys):
    assert main(["recipe=tiny_video", "train_file=world://video_captions", f"output_dir={reduced}"]) == 2
    assert "train_file=world://video_captions: unknown video world asset; train_file takes world://video_pairs" in capsys.readouterr().err
    assert not (reduced / "cache").exists()
