"""Scores equal to each benchmark's own script on the same answers.

Each test runs a benchmark on a fixture in its release's layout (:mod:`eval_fixtures`) with scripted
answers, awkward ones included, and compares with the score computed here independently: by the
official script's formula, written out in the test, and by hand in the comments.
"""

from __future__ import annotations

import json
import re

import eval_fixtures as fx
import pytest

from mmalign.eval.runner import load_eval_config, run


class Scripted:
    def __init__(self, answers: dict[str, str], default: str = ""):
        self.answers, self.default = answers, default

    def generate(self, items, sampling):
        return [self.answers.get(item.id, self.default) for item in items]


def scored(tmp_path, build, answers, *extra, judge=None, name="out"):
    values = build(tmp_path / "data")
    config = load_eval_config(fx.args(values) + ["model=unused", f"output_dir={tmp_path / name}", *extra])
    return run(config, backend=Scripted(answers), judge=judge)


# ------------------------------------------------------------------------------------------- POPE
def official_pope(answers: list[str], labels: list[str]) -> dict[str, float]:
    """eval_pope.py's arithmetic, as fractions."""
    preds = []
    for text in answers:
        first = text.split(".")[0] if "." in text else text
        words = first.replace(",", "").split(" ")
        preds.append(0 if ("No" in words or "not" in words or "no" in words) else 1)
    gold = [0 if label == "no" else 1 for label in labels]
    tp = sum(p == 1 and g == 1 for p, g in zip(preds, gold))
    fp = sum(p == 1 and g == 0 for p, g in zip(preds, gold))
    tn = sum(p == 0 and g == 0 for p, g in zip(preds, gold))
    fn = sum(p == 0 and g == 1 for p, g in zip(preds, gold))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {"accuracy": (tp + tn) / len(preds), "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall), "yes_ratio": preds.count(1) / len(preds)}


def test_pope_equals_eval_pope(tmp_path):
    answers = {"random/1": "Yes, there is a dog.", "random/2": "I can't tell.", "random/3": "There is not a dog",
               "adversarial/1": "NO", "adversarial/2": "No.", "adversarial/3": "yes"}
    m = scored(tmp_path, fx.pope, answers)
    # random labels yes, no, yes → answers yes, yes ("can't" is not "not"), no: TP 1, FP 1, FN 1
    # adversarial labels no, no, yes → answers yes ("NO"), no, yes: FP 1, TN 1, TP 1
    for split, labels in (("random", ["yes", "no", "yes"]), ("adversarial", ["no", "no", "yes"])):
        expected = official_pope([answers[f"{split}/{i}"] for i in (1, 2, 3)], labels)
        for key, value in expected.items():
            assert m[split][key] == pytest.approx(100 * value, abs=1e-9), (split, key)
    assert m["random"]["accuracy"] == pytest.approx(100 / 3) and m["adversarial"]["precision"] == pytest.approx(50.0)


# -------------------------------------------------------------------------------------------- MME
def test_mme_equals_calculation_py(tmp_path):
    # fixture: existence (2 images), count (1), color (1); per image: question 1 Yes, question 2 No
    answers = {
        "existence/000000006040/1": "Yes, there is.", "existence/000000006040/2": "There is no train.",  # yes; "ther" → other
        "existence/000000018150/1": "yes", "existence/000000018150/2": "Not at all",  # yes; "not " → no: image right
        "count/000000041180/1": "The answer is yes", "count/000000041180/2": "no",  # "the " → other; no
        "color/000000012120/1": " yes", "color/000000012120/2": "NO.",  # " yes" → yes; "no." → no: image right
    }
    m = scored(tmp_path, fx.mme, answers)

    def read(pred):  # calculation.py's parse_pred_ans on the lower-cased answer
        pred = pred.lower()
        if pred in ("yes", "no"):
            return pred
        return "yes" if "yes" in pred[:4] else "no" if "no" in pred[:4] else "other"

    truth = {"1": "yes", "2": "no"}
    total = 0.0
    for subtask in ("existence", "count", "color"):
        keys = [k for k in answers if k.startswith(subtask + "/")]
        right = {k: read(answers[k]) == truth[k.rsplit("/", 1)[1]] for k in keys}
        images = {k.rsplit("/", 1)[0] for k in keys}
        acc = sum(right.values()) / len(keys)
        acc_plus = sum(all(right[k] for k in keys if k.startswith(image + "/")) for image in images) / len(images)
        assert m[subtask]["score"] == pytest.approx(100 * acc + 100 * acc_plus), subtask
        total += 100 * acc + 100 * acc_plus
    assert m["total"] == pytest.approx(total)
    assert m["existence"]["score"] == pytest.approx(75 + 50) and m["count"]["score"] == pytest.approx(50.0)
    assert m["color"]["score"] == pytest.approx(200.0)


# ------------------------------------------------------------------------------------------ MMHal
OFFICIAL_SCALE = [
    "- Rating: 6, very informative with good analysis or reasoning, no hallucination",
    "- Rating: 5, very informative, no hallucination",
    "- Rating: 4, somewhat informative, no hallucination",
    "- Rating: 3, not informative, no hallucination",
    "- Rating: 2, very informative, with hallucination",
    "- Rating: 1, somewhat informative, with hallucination",
    "- Rating: 0, not informative, with hallucination",
]


def test_mmhal_equals_eval_gpt4(tmp_path):
    answers = {"0": "answer zero", "1": "answer one", "2": "answer two"}
    replies = {"answer zero": "Accurate but says little.\nRating: 3, not informative, no hallucination",
               "answer one": "Invents a cat. Rating:1",  # no space after the colon: not read, scores 0
               "answer two": "Rating: 6 at first; on reflection Rating: 5"}  # two ratings: scores 0
    seen = []

    def judge(messages):
        seen.append(messages)
        return next(reply for key, reply in replies.items() if f"### LMM Response to Evaluate\n{key}\n" in messages[-1]["content"])

    m = scored(tmp_path, fx.mmhal, answers, judge=judge)
    prompt = seen[0][0]["content"]
    assert len(seen[0]) == 1 and seen[0][0]["role"] == "user"  # one user message, as eval_gpt4.py sends
    assert all(line in prompt for line in OFFICIAL_SCALE)
    assert "### Image Contents\ndog, grass\n\n### Question\nWhat is in the image?\n\n### Standard Human-Generated Answer\n" in prompt

    scores = []
    for key in ("answer zero", "answer one", "answer two"):  # eval_gpt4.py's reading and arithmetic
        found = [s for s in range(7) if f"rating: {s}" in replies[key].lower()]
        scores.append(found[0] if len(found) == 1 else 0)
    assert scores == [3, 0, 0]
    assert m["score"] == pytest.approx(sum(scores) / 3)
    assert m["hallucination_rate"] == pytest.approx(100 * sum(s < 3 for s in scores) / 3)  # 3 is not hallucinated
    assert m["unparseable"] == 2 and m["parsing"] == "official"


def test_mmhal_strict_reads_more_ratings(tmp_path):
    replies = {"answer zero": "Rating: 3", "answer one": "Rating:1", "answer two": "Rating = 5"}

    def judge(messages):
        return next(reply for key, reply in replies.items() if f"Evaluate\n{key}\n" in messages[-1]["content"])

    answers = {"0": "answer zero", "1": "answer one", "2": "answer two"}
    m = scored(tmp_path, fx.mmhal, answers, "strict_parsing=true", judge=judge)
    assert m["score"] == pytest.approx((3 + 1 + 5) / 3) and m["unparseable"] == 0


# ------------------------------------------------------------------------------------------- MLVU
def test_mlvu_reads_the_release_folder_and_equals_choice_bench(tmp_path):
    answers = {"1_plotQA/0": "C) green", "2_needle/0": "B", "2_needle/1": "D."}

    def check_ans(pred, gt_letter):  # choice_bench.py
        if ")" in pred:
            pred = pred[pred.index(")") - 1 : pred.index(")")]
        return pred == gt_letter

    truth = {"1_plotQA/0": ("plotQA", "C"), "2_needle/0": ("needle", "B"), "2_needle/1": ("needle", "D")}
    per_task: dict[str, list[bool]] = {}
    for key, (task, letter) in truth.items():
        per_task.setdefault(task, []).append(check_ans(answers[key], letter))
    tasks = {task: 100 * sum(v) / len(v) for task, v in per_task.items()}

    m = scored(tmp_path, fx.mlvu, answers)  # 8_sub_scene.json and 9_summary.json are in the folder
    assert m["n"] == 3  # the generation tasks are left out
    assert m["groups"] == pytest.approx(tasks) and tasks == {"plotQA": 100.0, "needle": 50.0}
    assert m["group_mean"] == pytest.approx(sum(tasks.values()) / len(tasks))  # the script's "Avg"
    assert m["accuracy"] == pytest.approx(200 / 3)


def test_mlvu_prompt_is_in_its_own_layout(tmp_path):
    from mmalign.eval.benchmarks import benchmark_class

    values = fx.mlvu(tmp_path / "data")
    items = benchmark_class("mlvu")(load_eval_config(fx.args(values) + ["model=unused"])).load_items()
    assert items[0].prompt == ("Question: What colour is the car?\nOptions:\n(A) red\n(B) blue\n(C) green\n(D) white\n"
                               "Only give the best option.")
    assert items[0].video.endswith("video/1_plotQA/movie_1.mp4")


# -------------------------------------------------------------------------------------- VidHalluc
def official_vidhalluc(answer: str, choices: dict[str, str], correct: str) -> bool:
    """eval_mcq.py: match_model_answer + compute_MCQ for one question."""
    found = set(re.findall(r"\b[A-D]\b", answer))
    if not found:
        matched = next((k for k, v in choices.items() if v.lower() in answer.lower()), None)
        found = {matched} if matched else set()
    return found == set(re.findall(r"[A-D]", correct.strip().upper()))


def test_vidhalluc_equals_eval_mcq(tmp_path):
    choices = {"A": "jumping", "B": "running", "C": "waving", "D": "sitting"}
    cases = [{"0/clip_a": "AC", "0/clip_b": "The person is running."},  # "AC" is wrong; B by its text
             {"0/clip_a": "A, C", "0/clip_b": "B"},
             {"0/clip_a": "A man is jumping and waving", "0/clip_b": "B and C"}]  # the article A alone; B and C
    for i, answers in enumerate(cases):
        m = scored(tmp_path, fx.vidhalluc, answers, name=f"out{i}")
        expected = [official_vidhalluc(answers["0/clip_a"], choices, "AC"), official_vidhalluc(answers["0/clip_b"], choices, "B")]
        assert m["accuracy"] == pytest.approx(100 * sum(expected) / 2), answers
    assert [official_vidhalluc(a, choices, "AC") for a in ("AC", "A, C", "A man is jumping")] == [False, True, False]


def test_vidhalluc_strict_reads_joined_letters(tmp_path):
    m = scored(tmp_path, fx.vidhalluc, {"0/clip_a": "AC", "0/clip_b": "The person is running."}, "strict_parsing=true")
    assert m["accuracy"] == pytest.approx(100.0) and m["parsing"] == "strict"


def test_vidhalluc_prompt_asks_for_separated_letters(tmp_path):
    from mmalign.eval.benchmarks import benchmark_class

    values = fx.vidhalluc(tmp_path / "data")
    items = benchmark_class("vidhalluc")(load_eval_config(fx.args(values) + ["model=unused"])).load_items()
    assert "separated by commas (for example: A, C)" in items[0].prompt


# -------------------------------------------------------------------------------------- Video-MME
def test_videomme_leaves_unreadable_answers_out(tmp_path):
    # 001-1 (answer C) reads nothing and is left out; 001-2 (answer A): "A. A cup." reads A, right
    m = scored(tmp_path, fx.videomme, {"001-1": "none of these", "001-2": "A. A cup."})
    assert m["accuracy"] == pytest.approx(100.0) and m["answered"] == 1 and m["unparseable"] == 1
    m = scored(tmp_path, fx.videomme, {"001-1": "none of these", "001-2": "A. A cup."}, "strict_parsing=true", name="strict")
    assert m["accuracy"] == pytest.approx(50.0)  # strict: unreadable counts as wrong
    m = scored(tmp_path, fx.videomme, {"001-1": "Based on the video, three.", "001-2": "The answer is A"}, name="odd")
    assert m["accuracy"] == pytest.approx(50.0)  # "Based" reads as B (wrong); the prefix goes, then A


# ------------------------------------------------------------------------------------------ CHAIR
def test_chair_equals_eval_chair(tmp_path):
    answers = {
        "1": "A man skiing down a snowy hill next to two parked cars.",
        "2": "Two goats near a plate of bagels and a street light.",
        "3": "A plant and a bat beside a potted plant. A baseball bat leans on the wall.",
        "4": "Cars parked on the street.",
    }
    # By hand, with CHAIR's rules: the words each caption names (lemma → category), its tokens after
    # the two-word merge, and the image's truth (instances + objects of its reference captions).
    mentioned = {
        1: ["person", "skis", "car"],  # man; skiing (a verb: ski); cars ("parked cars" is no rule)
        2: ["sheep", "donut", "traffic light"],  # goats, bagels, "street light"; a plate is nothing
        3: ["potted plant", "baseball bat"],  # "plant" and "bat" alone are not in the table
        4: ["car"],  # "cars parked": the car counts
    }
    tokens = {1: 13, 2: 11, 3: 16, 4: 6}  # 2: "street light" is one token; 3: so are "potted plant", "baseball bat"
    truth = {1: {"person", "skis"}, 2: {"sheep", "donut", "bench"}, 3: {"potted plant", "baseball bat"}, 4: {"person"}}
    # eval_chair.py's arithmetic
    hallucinated = {i: [c for c in cs if c not in truth[i]] for i, cs in mentioned.items()}
    chair_s = sum(bool(h) for h in hallucinated.values()) / 4
    chair_i = sum(map(len, hallucinated.values())) / sum(map(len, mentioned.values()))
    recall = sum(len(set(cs) & truth[i]) for i, cs in mentioned.items()) / sum(map(len, truth.values()))
    length = sum(tokens.values()) / 4
    assert (chair_s, chair_i, recall, length) == (0.75, 3 / 9, 6 / 8, 11.5)

    m = scored(tmp_path, fx.coco_awkward, answers)
    assert m["chair_s"] == pytest.approx(100 * chair_s) and m["chair_i"] == pytest.approx(100 * chair_i)
    assert m["recall"] == pytest.approx(100 * recall) and m["length"] == pytest.approx(length)
    assert m["nlp"] in ("nltk", "offline")
    details = json.loads((tmp_path / "out" / "chair_details.json").read_text())
    assert {i: [c for _, c in details[str(i)]["mentioned"]] for i in mentioned} == mentioned


# ------------------------------------------------------------------------------------------ AMBER
def official_amber_discriminative(answers: dict[str, str], truths: dict[str, str]) -> dict[str, float]:
    """inference.py's overall discriminative arithmetic."""
    correct = sum((truths[k] == "yes" and a == "Yes") or (truths[k] != "yes" and a == "No") for k, a in answers.items())
    said_no = [k for k, a in answers.items() if a == "No"]
    precision = round(sum(truths[k] == "no" for k in said_no) / len(said_no) * 100, 1)
    no_truths = [k for k in answers if truths[k] != "yes"]
    recall = round(sum(answers[k] == "No" for k in no_truths) / len(no_truths) * 100, 1)
    f1 = round(2 * (precision / 100) * (recall / 100) / ((precision / 100) + (recall / 100) + 0.0001) * 100, 1)
    return {"accuracy": round(correct / len(answers) * 100, 1), "precision": precision, "recall": recall, "f1": f1}


def test_amber_equals_inference_py(tmp_path):
    answers = {
        "1": "Dogs run on the lawn. A man is sailing past a tree, and two puppies chase a frisbee under the sky.",
        "2": "There is a kitten on the couch and a hot dog on the plate.",
        "1005": "Yes", "1006": "No", "1007": "no", "1008": "Yes, it is.",
    }
    # By hand: the nouns of each response that are in the vocabulary ("Dogs" keeps its capital and
    # is no vocabulary word; "sailing" is a verb; "hot dog" is two tokens, so only "dog" counts).
    nouns = {1: ["lawn", "tree", "puppy", "frisbee", "sky"], 2: ["kitten", "couch", "dog"]}
    hallucinated = {1: ["tree", "frisbee"], 2: ["dog"]}  # sky is a safe word; lawn, puppy, kitten, couch are truths'
    covered, hallu_covered = {1: 2, 2: 2}, {1: 1, 2: 1}  # grass and dog; cat and sofa / frisbee (not boat); dog
    chair = round(sum(map(len, hallucinated.values())) / sum(map(len, nouns.values())) * 100, 1)
    cover = round(sum(covered.values()) / 4 * 100, 1)
    hal = round(100 - sum(not h for h in hallucinated.values()) / 2 * 100, 1)
    cog = round(sum(hallu_covered.values()) / 3 * 100, 1)
    assert (chair, cover, hal, cog) == (37.5, 100.0, 100.0, 66.7)
    truths = {"1005": "yes", "1006": "no", "1007": "no", "1008": "yes"}
    discriminative = official_amber_discriminative({k: answers[k] for k in truths}, truths)
    assert discriminative == {"accuracy": 50.0, "precision": 100.0, "recall": 50.0, "f1": 66.7}

    m = scored(tmp_path, fx.amber_awkward, answers)
    g = m["generative"]
    assert (g["chair"], g["cover"], g["hal"], g["cog"]) == (chair, cover, hal, cog)
    assert g["num_mentions"] == 8 and g["nlp"] in ("nltk", "offline")
    overall = m["discriminative"]["overall"]
    assert {k: overall[k] for k in discriminative} == discriminative
    assert m["amber_score"] == pytest.approx((100 - chair + discriminative["f1"]) / 2)
    assert set(m["discriminative"]) == {"overall", "existence", "attribute", "action", "number", "relation"}


def test_amber_strict_reads_yes_and_no_words(tmp_path):
    answers = {"1005": "Yes", "1006": "No", "1007": "no", "1008": "Yes, it is."}
    m = scored(tmp_path, fx.amber_awkward, answers, "strict_parsing=true")
    assert m["discriminative"]["overall"]["accuracy"] == 100.0 and m["discriminative"]["overall"]["f1"] == 100.0
