"""Tests of mmalign.world.base_model: a reduced pretraining of the world's base model, which hallucinates
the usual members of a scene group on unusual scenes and not on usual ones."""

from __future__ import annotations

import json
import random
import re

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmalign.world import CAPTION_PROMPT, GROUPS, World, write_world
from mmalign.world.base_model import PretrainConfig, build_world_vlm, caption_prompt_prefix

REDUCED = PretrainConfig(num_scenes=1000, vision_steps=150, caption_steps=300, learning_rate=2e-3)
HELDOUT = 60


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("world_model")
    world = write_world(root / "world", seed=0, num_train=10, num_reference=0,
                        num_heldout_usual=HELDOUT, num_heldout_unusual=HELDOUT)
    model_dir = build_world_vlm(root / "base", seed=0, pretrain=REDUCED, progress=False)
    model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
    return world, model, AutoProcessor.from_pretrained(model_dir)


def captions_of(world, model, processor, split):
    """Greedy captions through the evaluation's generation backend, as the CHAIR benchmark makes them."""
    from mmalign.eval.benchmarks.base import Item
    from mmalign.eval.generation import Sampling, TransformersBackend

    scenes = [json.loads(line) for line in world.scenes(split).read_text().splitlines()]
    items = [Item(id=str(s["image_id"]), prompt=CAPTION_PROMPT, images=[str(world.root / s["image"])]) for s in scenes]
    return TransformersBackend(model, processor).generate(items, Sampling(max_new_tokens=48)), scenes


def named(caption: str) -> set[str]:
    categories = {m for _, members in GROUPS.values() for m in members}
    return set(re.findall(r"[a-z]+", caption.lower())) & categories


def test_base_names_absent_usual_members_on_unusual_scenes_only(base):
    world, model, processor = base
    usual, usual_scenes = captions_of(world, model, processor, "heldout_usual")
    unusual, unusual_scenes = captions_of(world, model, processor, "heldout_unusual")

    # Usual scenes: every object named, nothing that is not there.
    present = [{o["category"] for o in s["objects"]} for s in usual_scenes]
    recall = sum(len(named(c) & p) for c, p in zip(usual, present)) / sum(len(p) for p in present)
    usual_wrong = sum(bool(named(c) - p) for c, p in zip(usual, present)) / HELDOUT
    assert recall >= 0.9 and usual_wrong <= 0.1

    # Unusual scenes: the group's absent member is named often, far more often than any one of
    # the other absent objects, and captions name absent objects far more often than on usual scenes.
    absent_named = other_named = 0
    wrong = 0
    for caption, scene in zip(unusual, unusual_scenes):
        there = {o["category"] for o in scene["objects"]}
        missing = scene["absent"][0]
        others = {m for _, ms in GROUPS.values() for m in ms} - there - {missing}
        absent_named += missing in named(caption)
        other_named += len(named(caption) & others) / len(others)
        wrong += bool(named(caption) - there)
    assert absent_named / HELDOUT >= 0.3
    assert absent_named >= 5 * other_named
    assert wrong / HELDOUT >= usual_wrong + 0.25


def test_pretraining_sees_the_tokens_training_and_evaluation_use(base):
    """The prompt prefix of pretraining renders as mmalign's encoder and the evaluation render it."""
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from mmalign.eval.generation import render_prompt
    from mmalign.data.encoding import Sequence, encode, render_chat

    processor = base[2]
    scene = World(0).scenes("x", 1)[0]
    image, caption = World(0).render(scene), World(0).caption(scene)
    prefix = caption_prompt_prefix(processor)
    assert prefix == processor.tokenizer.bos_token + render_prompt(processor, CAPTION_PROMPT, 1, False)
    batch = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)(
        [{"prompt": prefix, "completion": " " + caption + processor.tokenizer.eos_token, "images": [image]}]
    )
    text, spans, _ = render_chat(processor, [("user", CAPTION_PROMPT), ("assistant", caption)], num_images=1)
    encoded = encode(processor, [Sequence(text=text, scored_spans=spans, images=[image])])
    assert torch.equal(batch["input_ids"], encoded["inputs"]["input_ids"])
    # The loss covers exactly the response tokens that preference training scores.
    assert torch.equal(batch["labels"][0] != -100, encoded["response_mask"][0])


def test_build_is_deterministic_and_cached(tmp_path):
    quick = PretrainConfig(num_scenes=64, vision_steps=3, caption_steps=3, batch_size=8)
    random.seed(123)
    torch.manual_seed(123)
    a = build_world_vlm(tmp_path / "a", seed=1, pretrain=quick, progress=False)
    # The caller's random generators are left as they were (the Trainer reseeds the global ones).
    after = random.random(), torch.rand(1).item()
    random.seed(123)
    torch.manual_seed(123)
    assert after == (random.random(), torch.rand(1).item())
    b = build_world_vlm(tmp_path / "b", seed=1, pretrain=quick, progress=False)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    stamp = (a / "model.safetensors").stat().st_mtime_ns
    assert build_world_vlm(tmp_path / "a", seed=1, pretrain=quick, progress=False) == a
    assert (a / "model.safetensors").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temporary leftovers
    c = build_world_vlm(tmp_path / "c", seed=2, pretrain=quick, progress=False)
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
