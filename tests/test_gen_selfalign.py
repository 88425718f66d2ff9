"""The selfalign pipeline: answer matching, perturbations, and whole runs with tiny models (their
answers are random words: every answer is wrong, which exercises the mechanics)."""

from __future__ import annotations

import json
import logging
import random

import numpy as np
import pytest
from gen_fixtures import ChatServer
from PIL import Image

from data_gen.config import GenConfig
from data_gen.matching import aligned_truth, answer_type, is_correct, option_letter
from data_gen.perturb import PerturbOptions, perturb_image, perturb_video
from data_gen.runner import generate
from mmalign.data.readers import read_pairs
from mmalign.data.tags import parse_tags
from mmalign.tiny import make_image, write_video


@pytest.mark.parametrize(
    "prediction,answer,kind,options,correct",
    [
        ("B", "B", "mc", ["cat", "dog"], True),
        ("(B) dog", "dog", "mc", ["cat", "dog"], True),
        ("The answer is A.", "B", "mc", ["cat", "dog"], False),
        ("dog", "B", "mc", ["cat", "dog"], True),
        ("Yes, there is.", "yes", "yesno", None, True),
        ("No.", "Yes", "yesno", None, False),
        ("maybe", "no", "yesno", None, False),
        ("The Red car", "red car", "short", None, True),
        ("blue car", "red car", "short", None, False),
    ],
)
def test_closed_form_matching(prediction, answer, kind, options, correct):
    assert is_correct(prediction, answer, kind, options) is correct


def test_answer_types_and_aligned_truths():
    assert [answer_type(a, o, 3) for a, o in [("B", ["x", "y"]), ("Yes", None), ("a red car", None),
                                               ("the man opens the door and leaves", None)]] == ["mc", "yesno", "short", "open"]
    assert option_letter("(c)", ["x", "y", "z"]) == "C" and option_letter("D", ["x", "y", "z"]) is None
    assert aligned_truth("The answer is A.", "B", "mc", ["cat", "dog"]) == "The answer is B."
    assert aligned_truth("gibberish", "B", "mc", ["cat", "dog"]) == "B. dog"
    assert aligned_truth("No, there is none.", "yes", "yesno") == "Yes, there is none."
    assert aligned_truth("a blue car", "red car", "short") == "red car"


def test_video_perturbations():
    frames = np.arange(8)[:, None, None, None] * np.ones((8, 4, 4, 3), dtype=np.uint8) + 1
    options, rng = PerturbOptions(mask_ratio=0.25, subsample_stride=3), random.Random(0)
    shuffled = perturb_video(frames, "shuffle", rng, options)
    assert sorted(shuffled[:, 0, 0, 0]) == list(range(1, 9)) and list(shuffled[:, 0, 0, 0]) != list(range(1, 9))
    assert list(perturb_video(frames, "reverse", rng, options)[:, 0, 0, 0]) == list(range(8, 0, -1))
    assert list(perturb_video(frames, "subsample", rng, options)[:, 0, 0, 0]) == [1, 4, 7]
    masked = perturb_video(frames, "mask", rng, options)[:, 0, 0, 0]
    dark = [i for i, v in enumerate(masked) if v == 0]
    assert len(dark) == 2 and dark[1] == dark[0] + 1 and all(masked[i] == i + 1 for i in range(8) if i not in dark)


def test_image_perturbations():
    image, rng = Image.new("RGB", (40, 20), (255, 0, 0)), random.Random(0)
    crop = perturb_image(image, "crop", rng, PerturbOptions(crop_ratio=0.25))
    assert crop.size == (20, 10)
    masked = np.asarray(perturb_image(image, "mask", rng, PerturbOptions(mask_ratio=0.25)))
    assert (masked == [128, 128, 128]).all(axis=-1).sum() == 20 * 10


def _questions(tmp_path):
    for i in range(3):
        make_image(i).save(tmp_path / f"img{i}.png")
    (tmp_path / "broken.png").write_bytes(b"no image")
    records = [
        {"id": "mc", "question": "What shape is it?", "options": ["circle", "square", "triangle"], "answer": "B",
         "image": "img0.png"},
        {"id": "yn", "question": "Is there a red shape?", "answer": "yes", "image": "img1.png"},
        {"id": "short", "question": "What color is the shape?", "answer": "green", "image": "img2.png"},
        {"id": "nogt", "question": "What is it?", "image": "img0.png"},
        {"id": "bad", "question": "What is it?", "answer": "circle", "image": "broken.png"},
        {"id": "open", "question": "Describe the picture.", "answer": "A large green square sits in the middle.",
         "image": "img1.png"},
    ]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_selfalign_on_images_with_closed_form_answers(tmp_path, tiny_model_dir, caplog):
    caplog.set_level(logging.WARNING, logger="data_gen")
    out = tmp_path / "pairs.jsonl"
    stats = generate(GenConfig(pipeline="selfalign", model=str(tiny_model_dir("llava")), input_file=str(_questions(tmp_path)),
                               media_root=str(tmp_path), output_file=str(out), perturbations=["none", "crop", "mask"],
                               max_new_tokens=6, progress=False))
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert pairs and {p["id"].rsplit("-", 1)[0] for p in pairs} == {"mc", "yn", "short"}
    for p in pairs:
        chosen, chosen_spans = parse_tags(p["chosen"])
        rejected, _ = parse_tags(p["rejected"])
        assert p["kind"] == "selfalign" and p["source"].split(":")[1] in ("none", "crop", "mask")
        item = p["id"].rsplit("-", 1)[0]
        assert {"mc": "B. square", "yn": "yes", "short": "green"}[item] in chosen or chosen.lower().startswith("yes")
        assert chosen_spans and rejected and p["images"] == [{"mc": "img0.png", "yn": "img1.png", "short": "img2.png"}[item]]
        assert p["prompt"].startswith({"mc": "What shape", "yn": "Is there", "short": "What color"}[item])
    ids = [p["id"] for p in pairs]
    assert len(ids) == len(set(ids))
    assert stats.rejected["no_ground_truth"] == 1 and stats.rejected["unreadable_media"] == 1
    assert stats.rejected["needs_llm"] == 1  # the open-ended question, without an LLM
    messages = [r.getMessage() for r in caplog.records]
    assert any("questions.jsonl:4: record 'nogt': no answer (ground truth); skipped" in m for m in messages)
    assert any("record 'bad': cannot read image" in m for m in messages)
    assert len(read_pairs(out)) == len(pairs)


def test_open_ended_answers_go_through_the_llm_judge_and_rewrite(tmp_path, tiny_model_dir):
    questions = _questions(tmp_path)
    out = tmp_path / "open.jsonl"
    with ChatServer() as server:
        stats = generate(GenConfig(pipeline="selfalign", model=str(tiny_model_dir("llava")), input_file=str(questions),
                                   media_root=str(tmp_path), output_file=str(out), perturbations=["none", "mask"],
                                   max_new_tokens=12, progress=False, llm="openai", llm_model="fake",
                                   base_url=server.base_url, max_diff_share=1.0, max_items=6))
        rewrites = [m for m in server.requests if '"rewritten"' in m[-1]["content"]]
    opened = [json.loads(line) for line in out.read_text().splitlines() if line.startswith('{"id": "open')]
    assert opened and len(rewrites) == len(opened)
    for p in opened:  # the fake LLM keeps the answer and puts the truth's last word at its end
        chosen, spans = parse_tags(p["chosen"])
        rejected, _ = parse_tags(p["rejected"])
        assert chosen.split()[:-1] == rejected.split()[:-1] and chosen.split()[-1] == "middle."
        assert chosen[spans[-1][0]:spans[-1][1]] in ("middle.", "middle")
    assert stats.llm["calls"] >= 3 * len(opened)


def test_selfalign_on_video_with_frame_perturbations(tmp_path, tiny_model_dir):
    write_video(tmp_path / "clip.mp4", num_frames=8)
    questions = tmp_path / "video.jsonl"
    questions.write_text(json.dumps({"id": "v1", "question": "Does the ball move?", "answer": "yes", "video": "clip.mp4"}) + "\n")
    out = tmp_path / "video_pairs.jsonl"
    stats = generate(GenConfig(pipeline="selfalign", model=str(tiny_model_dir("qwen2_vl")), input_file=str(questions),
                               media_root=str(tmp_path), output_file=str(out), num_frames=8, subsample_stride=2,
                               max_new_tokens=4, progress=False))
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert stats.done == 1 and pairs
    assert all(p["video"] == "clip.mp4" and "images" not in p for p in pairs)
    assert {p["id"] for p in pairs} <= {f"v1-{n}" for n in ("none", "shuffle", "reverse", "subsample", "mask")}
