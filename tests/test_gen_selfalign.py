"""The selfalign pipeline: answer matching, perturbations, and whole runs with tiny models (their
answers are random words: every answer is wrong, which exercises the mechanics; on the world, a
tiny model that gives one fixed caption, so every outcome can be worked out from the scenes)."""

from __future__ import annotations

import json
import logging
import random

import numpy as np
import pytest
from gen_fixtures import ChatServer
from PIL import Image

from mmalign.data_gen.config import GenConfig
from mmalign.data_gen.matching import (
    aligned_truth,
    answer_type,
    is_correct,
    object_phrases,
    option_letter,
)
from mmalign.data_gen.perturb import PerturbOptions, perturb_image, perturb_video
from mmalign.data_gen.runner import generate
from mmalign.eval.synonyms import read_synonyms
from mmalign.data.readers import read_pairs
from mmalign.data.tags import diff_spans, parse_tags, tag_text
from mmalign.errors import ConfigError, DataError
from mmalign.tiny import build_tiny_vlm, make_image, write_video


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
    # a doubled bracket is still a letter: right when it is the truth, rewritten in place when not
    assert option_letter("((A)", ["cat", "dog"]) == "A" and is_correct("((A)", "A", "mc", ["cat", "dog"])
    assert aligned_truth("((A)", "B", "mc", ["cat", "dog"]) == "((B)"
    # a letter naming no option is wrong, and its form is kept; a word that opens with a capital is no letter
    assert not is_correct("(E)", "A", "mc", ["cat", "dog"]) and aligned_truth("(E)", "A", "mc", ["cat", "dog"]) == "(A)"
    assert aligned_truth("((((C)", "B", "mc", ["cat", "dog"]) == "((((B)"
    assert aligned_truth("F.", "A", "mc", ["cat", "dog"]) == "A." and aligned_truth("The answer is E", "B", "mc", ["cat", "dog"]) == "The answer is B"
    assert aligned_truth("I think so", "B", "mc", ["cat", "dog"]) == "B. dog"
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
    caplog.set_level(logging.WARNING, logger="mmalign.data_gen")
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


# ---------------------------------------------------------------------------------------------
# answers that list objects, judged against a synonym table

TABLE = {"cup": ["cups", "mug", "mugs"], "plate": ["plates"], "fork": ["forks"], "bowl": ["bowls"],
         "kite": ["kites"], "book": ["books"]}
TRUTH = "The image shows a cup, a blue bowl, a kite and a plate."


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory):
    """The table read from both layouts (JSON; CHAIR's synonyms.txt), which must agree."""
    root = tmp_path_factory.mktemp("synonyms")
    (root / "objects.json").write_text(json.dumps(TABLE))
    (root / "objects.txt").write_text("".join(", ".join([k, *v]) + "\n" for k, v in TABLE.items()))
    vocab = read_synonyms(root / "objects.json")
    assert read_synonyms(root / "objects.txt") == vocab
    return vocab


@pytest.mark.parametrize(
    "prediction,answer,correct",
    [
        ("The image shows a cup, a blue bowl, a kite and a plate.", TRUTH, True),
        ("Two mugs and a bowl.", TRUTH, True),  # a synonym, a plural; leaving objects out is no error
        ("The image shows nothing I know.", TRUTH, True),
        ("The image shows a cup, a plate, a fork and a bowl.", TRUTH, False),
        ("A plate.", "A cup.", False),
        ("Books!", "A cup.", False),
    ],
)
def test_objects_judge(vocabulary, prediction, answer, correct):
    assert is_correct(prediction, answer, "objects", vocabulary=vocabulary) is correct


@pytest.mark.parametrize(
    "prediction,answer,chosen,rejected",
    [
        # the usual member named in place of the object the scene shows instead
        ("The image shows a cup, a plate, a fork and a bowl.", TRUTH,
         "The image shows a cup, a plate, a <MASK>kite</MASK> and a bowl.",
         "The image shows a cup, a plate, a <MASK>fork</MASK> and a bowl."),
        # the truth's phrase with its adjective replaces the hallucinated one with its adjectives
        ("There is a small red fork next to a mug.", TRUTH,
         "There is a <MASK>blue bowl</MASK> next to a mug.",
         "There is a <MASK>small red fork</MASK> next to a mug."),
        # no determiner in the prediction: none taken from the truth; the first letter's case kept
        ("Forks and a cup.", TRUTH, "<MASK>Blue bowl</MASK> and a cup.", "<MASK>Forks</MASK> and a cup."),
        # two hallucinated objects take the unnamed truth objects in order
        ("A fork, a book and a cup.", "A cup, a kite and a blue bowl.",
         "A <MASK>kite</MASK>, a <MASK>blue bowl</MASK> and a cup.",
         "A <MASK>fork</MASK>, a <MASK>book</MASK> and a cup."),
        # every mention of one hallucinated object gets the same replacement
        ("A fork and a cup; the fork is red.", "A cup and a kite.",
         "A <MASK>kite</MASK> and a cup; <MASK>a kite</MASK> is red.",
         "A <MASK>fork</MASK> and a cup; <MASK>the fork</MASK> is red."),
    ],
)
def test_objects_aligned_truth_is_a_minimal_edit_of_the_prediction(vocabulary, prediction, answer, chosen, rejected):
    truth = aligned_truth(prediction, answer, "objects", vocabulary=vocabulary)
    assert truth == parse_tags(chosen)[0]
    assert is_correct(truth, answer, "objects", vocabulary=vocabulary)
    chosen_spans, rejected_spans = diff_spans(truth, prediction)  # how selfalign tags a pair
    assert (tag_text(truth, chosen_spans), tag_text(prediction, rejected_spans)) == (chosen, rejected)


@pytest.mark.parametrize(
    "prediction,answer,aligned",
    [
        # The scene misses its fork: nothing is left to name in its place, so it leaves the list.
        ("The image shows a cup, a plate, a fork and a bowl.", "The image shows a cup, a plate and a bowl.",
         "The image shows a cup, a plate and a bowl."),
        # the last item: the one before it now closes the list
        ("The image shows a cup, a plate, a bowl and a fork.", "The image shows a cup, a plate and a bowl.",
         "The image shows a cup, a plate and a bowl."),
        # the first item: the next one opens the sentence
        ("A fork, a cup and a bowl.", "A cup and a bowl.", "A cup and a bowl."),
        # two left out, one after the other; and one replaced, one left out
        ("The image shows a cup, a plate, a bowl and a fork.", "A cup and a plate.", "The image shows a cup and a plate."),
        ("A fork, a book, a cup and a bowl.", "A cup, a kite and a bowl.", "A kite, a cup and a bowl."),
        # a comma that does not separate two items stays
        ("Here, a cup and a fork.", "A cup.", "Here, a cup."),
    ],
)
def test_objects_without_a_truth_object_left_are_left_out_of_their_list(vocabulary, prediction, answer, aligned):
    assert not is_correct(prediction, answer, "objects", vocabulary=vocabulary)
    assert aligned_truth(prediction, answer, "objects", vocabulary=vocabulary) == aligned


def test_objects_alignment_is_refused_when_an_object_cannot_be_left_out(vocabulary):
    # not list items: deleting them would break the sentence
    assert aligned_truth("There is a fork.", "Nothing at all.", "objects", vocabulary=vocabulary) is None
    assert aligned_truth("A fork and a cup; the fork is red.", "A cup.", "objects", vocabulary=vocabulary) is None
    # the pair a deletion makes: the word diff widens the one-sided run to a shared word
    truth = aligned_truth("The image shows a cup, a plate, a fork and a bowl.", "A cup, a plate and a bowl.", "objects",
                          vocabulary=vocabulary)
    chosen, rejected = diff_spans(truth, "The image shows a cup, a plate, a fork and a bowl.")
    assert tag_text(truth, chosen) == "The image shows a cup, a plate <MASK>and</MASK> a bowl."
    assert tag_text("The image shows a cup, a plate, a fork and a bowl.", rejected) == (
        "The image shows a cup, a plate<MASK>, a fork and</MASK> a bowl.")
    text = "Here: a large blue mug, two forks and bowls."
    assert [(text[p.start:p.end], p.category, p.determiner) for p in object_phrases(text, vocabulary)] == [
        ("a large blue mug", "cup", True), ("two forks", "fork", True), ("bowls", "bowl", False)]


def test_objects_answers_need_a_synonym_table(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "a", "question": "Describe the image.", "answer": "A cup.", "image": "x.png"}) + "\n"
                         + json.dumps({"id": "b", "question": "Describe the image.", "answer": "A cup.", "image": "x.png",
                                       "answer_type": "objects"}) + "\n")
    config = GenConfig(pipeline="selfalign", model="unused", input_file=str(questions), output_file=str(tmp_path / "o.jsonl"))
    with pytest.raises(ConfigError, match=r"q\.jsonl:2: record 'b' has answer_type objects, which needs synonyms_file="):
        generate(config)
    config.synonyms_file = str(tmp_path / "missing.json")
    with pytest.raises(DataError, match="synonym file not found"):
        generate(config)


FIXED = ["cup", "plate", "fork", "bowl"]  # what the parrot model says of any image


@pytest.fixture(scope="module")
def parrot_world(tmp_path_factory):
    """A small world, and a tiny model of its words that gives one kitchen caption whatever it is
    shown: its generation config biases greedy decoding token by token towards that caption
    (transformers' ``sequence_bias``, keyed on the whole caption so far), so nothing is trained."""
    from transformers import AutoProcessor, GenerationConfig

    from mmalign.world import World, WorldConfig, write_world
    from mmalign.world.base_model import caption_prompt_prefix

    root = tmp_path_factory.mktemp("parrot")
    world = World(0, WorldConfig(unusual_share=0.5))
    paths = write_world(root / "world", seed=0, num_train=24, num_reference=0, num_heldout_usual=0,
                        num_heldout_unusual=0, config=world.config)
    model_dir = build_tiny_vlm("llava", root / "parrot", corpus=world.corpus())
    processor = AutoProcessor.from_pretrained(model_dir)
    tokenizer = processor.tokenizer
    caption = " The image shows " + ", ".join(f"a {c}" for c in FIXED[:-1]) + f" and a {FIXED[-1]}."
    last = tokenizer(caption_prompt_prefix(processor), add_special_tokens=False)["input_ids"][-1]  # the prompt's end
    ids = [last, *tokenizer(caption, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    generation = GenerationConfig.from_pretrained(model_dir)
    generation.sequence_bias = [[ids[: k + 1], 100.0] for k in range(1, len(ids))]
    generation.save_pretrained(model_dir)
    return paths, model_dir


def listed(names: list[str], tagged: list[str]) -> str:
    """A world caption of ``names``, those in place of the ``tagged`` ones of FIXED wrapped in tags."""
    parts = [f"a <MASK>{n}</MASK>" if c in tagged else f"a {n}" for c, n in zip(FIXED, names)]
    return "The image shows " + ", ".join(parts[:-1]) + " and " + parts[-1] + "."


def test_selfalign_on_the_world_with_objects_answers(tmp_path, parrot_world):
    world, model_dir = parrot_world
    questions = [json.loads(line) for line in world.selfalign_questions.read_text().splitlines()]
    del questions[0]["answer_type"]  # open-ended by its length: judged as objects once a table is given
    questions.append(dict(questions[1], id="odd", answer_type="essay"))
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    out = tmp_path / "pairs.jsonl"
    stats = generate(GenConfig(pipeline="selfalign", model=str(model_dir), input_file=str(tmp_path / "q.jsonl"),
                               media_root=str(world.root), synonyms_file=str(world.synonyms_txt), output_file=str(out),
                               perturbations=["none", "crop", "mask"], max_new_tokens=20, progress=False))
    pairs = {p["id"]: p for p in map(json.loads, out.read_text().splitlines())}
    # What each scene should give, worked out from the scene records: the model's four objects,
    # those not in the scene replaced in order by the scene's objects it leaves out (no object's
    # name starts with a vowel, so the article stays "a"); one answer for all three inputs.
    # Objects beyond the scene's spare ones leave the list ("a cup, a plate and a bowl").
    expected, deletions, reasons = {}, {}, {"invalid_record": 1}
    for scene in map(json.loads, world.scenes("train").read_text().splitlines()):
        present = [o["category"] for o in scene["objects"]]
        wrong, spare = [c for c in FIXED if c not in present], [c for c in present if c not in FIXED]
        if not wrong:
            reasons["answered_correctly"] = reasons.get("answered_correctly", 0) + 1
            continue
        pair_id = f"train-{scene['image_id']}-none"
        if len(wrong) > len(spare):
            kept = [(spare[wrong.index(c)] if wrong.index(c) < len(spare) else None) if c in wrong else c for c in FIXED]
            items = [f"a {n}" for n in kept if n]
            listing = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
            deletions[pair_id] = (f"The image shows {listing}.", scene["image"])
            continue
        aligned = [spare[wrong.index(c)] if c in wrong else c for c in FIXED]
        expected[pair_id] = (listed(aligned, wrong), listed(FIXED, wrong), scene["image"])
    assert len(expected) >= 3 and deletions and reasons.get("answered_correctly")
    assert sorted(pairs) == sorted([*expected, *deletions])
    for pair_id, (chosen, rejected, image) in expected.items():
        assert pairs[pair_id] == {"id": pair_id, "prompt": "Describe the image.", "chosen": chosen, "rejected": rejected,
                                  "images": [image], "kind": "selfalign", "source": "selfalign:none"}
    for pair_id, (chosen, image) in deletions.items():
        assert parse_tags(pairs[pair_id]["chosen"])[0] == chosen and pairs[pair_id]["images"] == [image]
        assert parse_tags(pairs[pair_id]["rejected"])[0] == listed(FIXED, [])
    assert dict(stats.rejected) == reasons and stats.done == len(questions)
    assert len(read_pairs(out)) == len(pairs)
