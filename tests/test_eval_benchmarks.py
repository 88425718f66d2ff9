"""Every benchmark end to end on a fixture in its released format.

With a scripted backend (answers chosen by the test), the scores are checked against values worked
out by hand; with a tiny model (which answers with random words), the whole path runs: model
loading, prompts, media, generation, resumable predictions, scoring and the results files, with
unreadable answers counted and kept in the denominator.
"""

from __future__ import annotations

import json

import eval_fixtures as fx
import pytest

from mmalign.eval.runner import load_eval_config, run


class Scripted:
    """A generation backend that answers from a table (item id → text)."""

    def __init__(self, answers: dict[str, str], default: str = "I would rather not say."):
        self.answers, self.default, self.asked = answers, default, []

    def generate(self, items, sampling):
        self.asked += [item.id for item in items]
        return [self.answers.get(item.id, self.default) for item in items]


def scripted_run(tmp_path, build, answers, judge=None, default="I would rather not say."):
    values = build(tmp_path / "data")
    config = load_eval_config(fx.args(values) + ["model=unused", f"output_dir={tmp_path / 'out'}"])
    return run(config, backend=Scripted(answers, default), judge=judge)


def test_pope_scores(tmp_path):
    answers = {
        "random/1": "Yes", "random/2": "Yes", "random/3": "hmm",  # labels yes, no, yes: TP, FP, and "hmm" reads as yes: TP
        "adversarial/1": "No", "adversarial/2": "No", "adversarial/3": "Yes",  # labels no, no, yes: TN, TN, TP
    }
    m = scripted_run(tmp_path, fx.pope, answers)
    assert m["parsing"] == "official"
    assert m["random"]["accuracy"] == pytest.approx(200 / 3)
    assert m["random"]["precision"] == pytest.approx(200 / 3) and m["random"]["recall"] == pytest.approx(100.0)
    assert m["random"]["yes_ratio"] == pytest.approx(100.0) and m["random"]["unparseable"] == 0
    assert m["adversarial"]["f1"] == pytest.approx(100.0)
    assert m["mean"]["accuracy"] == pytest.approx((200 / 3 + 100) / 2)
    assert m["mean"]["f1"] == pytest.approx((80 + 100) / 2)  # random: 2·(2/3)·1 / (2/3 + 1) = 0.8


def test_pope_strict_parsing(tmp_path):
    answers = {"random/1": "Yes", "random/2": "Yes", "random/3": "hmm", "adversarial/1": "No", "adversarial/2": "No",
               "adversarial/3": "Yes"}
    values = fx.pope(tmp_path / "data")
    config = load_eval_config(fx.args(values) + ["model=unused", f"output_dir={tmp_path / 'out'}", "strict_parsing=true"])
    m = run(config, backend=Scripted(answers))
    # "hmm" is unreadable: a missed yes, kept in the denominator
    assert m["parsing"] == "strict" and m["random"]["unparseable"] == 1
    assert m["random"]["accuracy"] == pytest.approx(100 / 3)
    assert m["random"]["precision"] == pytest.approx(50.0) and m["random"]["recall"] == pytest.approx(50.0)


def test_chair_scores(tmp_path):
    answers = {
        "1": "A man with a dog and a cat.",  # truth person, dog: the cat is hallucinated
        "2": "A cup on a table.",  # truth dining table, cup
        "3": "A teddy bear and a cat.",  # truth teddy bear, and the cat of its reference caption
    }
    m = scripted_run(tmp_path, fx.coco, answers)
    assert m["chair_s"] == pytest.approx(100 / 3)
    assert m["chair_i"] == pytest.approx(100 / 7)  # 1 of 3 + 2 + 2 mentions
    assert m["recall"] == pytest.approx(100.0)  # 2 + 2 + 2 of 2 + 2 + 2
    details = json.loads((tmp_path / "out" / "chair_details.json").read_text())
    assert details["1"]["hallucinated"] == [["cat", "cat"]]


def test_amber_scores(tmp_path):
    answers = {
        "1": "A puppy plays on the lawn under the sky with a frisbee and a ball near a tree.",
        "2": "Two kittens sleep on a couch.",
        "1005": "Yes", "1006": "No", "1007": "Yes.", "1008": "yes",
    }
    m = scripted_run(tmp_path, fx.amber, answers)
    # the same responses as tests/test_eval_metrics.py: CHAIR 37.5, Cog 66.7; F1 66.7
    assert m["generative"]["chair"] == 37.5 and m["generative"]["cog"] == 66.7
    assert m["discriminative"]["overall"]["f1"] == 66.7
    assert m["amber_score"] == pytest.approx((100 - 37.5 + 66.7) / 2)
    assert m["parsing"] == "official"


def test_mme_scores(tmp_path):
    # every answer "Yes": each image's first question (Yes) right, second (No) wrong
    m = scripted_run(tmp_path, fx.mme, {}, default="Yes")
    for subtask in ("existence", "count", "color"):
        assert m[subtask]["accuracy"] == pytest.approx(50.0)
        assert m[subtask]["accuracy_plus"] == 0.0
    assert m["existence"]["n"] == 4 and m["color"]["n"] == 2  # color uses the questions_answers_YN layout
    assert m["total"] == pytest.approx(150.0)


def test_mmhal_scores(tmp_path):
    answers = {"0": "answer zero", "1": "answer one", "2": "answer two"}
    replies = {"answer zero": "Fine. Rating: 5", "answer one": "Wrong objects. Rating: 1", "answer two": "I cannot rate this."}

    def judge(messages):
        return next(reply for key, reply in replies.items() if key in messages[-1]["content"])

    m = scripted_run(tmp_path, fx.mmhal, answers, judge=judge)
    assert m["score"] == pytest.approx((5 + 1 + 0) / 3)  # an unrated reply scores 0
    assert m["hallucination_rate"] == pytest.approx(200 / 3)
    assert m["per_type"] == {"attribute": pytest.approx(2.5), "counting": pytest.approx(1.0)}
    assert m["unparseable"] == 1
    assert len((tmp_path / "out" / "judgements.jsonl").read_text().splitlines()) == 3


def test_judge_replies_are_reused_only_for_the_same_judge_and_request(tmp_path):
    from mmalign.eval.judge import judge_all

    asked = []

    def judge(messages):
        asked.append(messages[0]["content"])
        return "Rating: 3"

    store = tmp_path / "judgements.jsonl"
    requests = {"a": [{"role": "user", "content": "one"}], "b": [{"role": "user", "content": "two"}]}
    judge_all(judge, requests, store, name="judge-1")
    judge_all(judge, requests, store, name="judge-1")  # all kept: nothing asked
    judge_all(judge, {**requests, "b": [{"role": "user", "content": "two, changed"}]}, store, name="judge-1")
    judge_all(judge, requests, store, name="judge-2")  # another judge judges everything anew
    assert asked == ["one", "two", "two, changed", "one", "two"]


def test_tvbench_scores(tmp_path):
    # action_count/0: B (3) right; action_count/1: unreadable; object_shuffle/0: C (right) right
    answers = {"action_count/0": "B", "action_count/1": "I don't know", "object_shuffle/0": "(C) right"}
    m = scripted_run(tmp_path, fx.tvbench, answers)
    assert m["accuracy"] == pytest.approx(200 / 3)
    assert m["groups"] == {"action_count": pytest.approx(50.0), "object_shuffle": pytest.approx(100.0)}
    assert m["group_mean"] == pytest.approx(75.0)
    assert m["unparseable"] == 1 and m["n"] == 3


@pytest.mark.parametrize(
    "name,answers,accuracy",
    [
        ("mvbench", {"action_sequence/0": "B", "episodic_reasoning/0": "A"}, 50.0),  # B right, Monica is B
        ("mlvu", {"1_plotQA/0": "(C) green", "2_needle/0": "B", "2_needle/1": "D."}, 200 / 3),  # "D." is not "D"
        ("videomme", {"001-1": "C. Three.", "001-2": "B"}, 50.0),
        ("longvideobench", {"86CxyhFV9MI_0": "a cup"}, 100.0),  # correct_choice 1 → B
        ("tempcompass", {"1034419625/action/0": "A", "1034419625/direction/0": "A"}, 50.0),
        ("vidhalluc", {"0/clip_a": "A", "0/clip_b": "B"}, 50.0),  # clip_a needs both A and C
    ],
)
def test_video_multiple_choice_scores(tmp_path, name, answers, accuracy):
    m = scripted_run(tmp_path, fx.VIDEO_BENCHMARKS[name], answers)
    assert m["accuracy"] == pytest.approx(accuracy)


def test_mvbench_segments_and_frame_folders(tmp_path):
    from mmalign.eval.benchmarks import benchmark_class

    values = fx.mvbench(tmp_path / "data")
    config = load_eval_config(fx.args(values) + ["model=unused"])
    items = {item.id: item for item in benchmark_class("mvbench")(config).load_items()}
    assert items["action_sequence/0"].video.endswith("star/Charades_v1_480/A1.mp4")
    assert items["action_sequence/0"].video_span == (0.25, 1.5)
    assert items["episodic_reasoning/0"].video.endswith("tvqa/frames_fps3_hq/clip_1")
    assert "A. Ross\nB. Monica\nC. Joey" in items["episodic_reasoning/0"].prompt


def test_videohallucer_scores(tmp_path):
    answers = {
        "object_relation/0/basic": "Yes", "object_relation/0/hallucination": "No",  # pair right
        "object_relation/1/basic": "Yes", "object_relation/1/hallucination": "Yes",  # hallucinated one wrong
        "temporal/0/basic": "No", "temporal/0/hallucination": "No",  # basic one wrong
        "temporal/1/basic": "yes", "temporal/1/hallucination": "no",  # pair right
    }
    m = scripted_run(tmp_path, fx.videohallucer, answers)
    assert m["object_relation"] == {"basic_accuracy": 100.0, "hallucinated_accuracy": 50.0, "accuracy": 50.0, "n": 2}
    assert m["temporal"]["basic_accuracy"] == 50.0 and m["temporal"]["accuracy"] == 50.0
    assert m["overall"] == {"basic_accuracy": 75.0, "hallucinated_accuracy": 75.0, "accuracy": 50.0}


def test_vcrbench_scores(tmp_path):
    # qid 1: truth 1,2,4,3 (ground_truth 0,1,3,2) answered exactly; qid 2: truth 3,1,2, answered 3,2,1
    answers = {"1": "Clip 1 cuts bananas...\nCorrect order: 1, 2, 4, 3", "2": "Correct order: 3, 2, 1"}
    m = scripted_run(tmp_path, fx.vcrbench, answers)
    assert m["accuracy"] == pytest.approx(50.0)
    assert m["step_accuracy"] == pytest.approx(100 * (4 + 1) / 7)
    assert m["by_steps"] == {"4_steps": 100.0, "3_steps": 0.0}


IMAGE = sorted(fx.IMAGE_BENCHMARKS)
VIDEO = sorted(fx.VIDEO_BENCHMARKS)
#: items in each fixture (counted by hand from tests/eval_fixtures.py)
NUM_ITEMS = {"chair": 3, "pope": 6, "amber": 6, "mme": 8, "mmhal": 3, "tvbench": 3, "mvbench": 2, "mlvu": 3,
             "videomme": 2, "longvideobench": 1, "tempcompass": 2, "vidhalluc": 2, "videohallucer": 8, "vcrbench": 2}


@pytest.mark.parametrize("name", IMAGE + VIDEO)
def test_tiny_model_end_to_end(tmp_path, tiny_model_dir, name):
    family = "llava" if name in fx.IMAGE_BENCHMARKS else "qwen2_vl"
    builders = {**fx.IMAGE_BENCHMARKS, **fx.VIDEO_BENCHMARKS}
    values = builders[name](tmp_path / "data")
    out = tmp_path / "out"
    argv = fx.args(values) + [f"model={tiny_model_dir(family)}", f"output_dir={out}", "max_new_tokens=4",
                              "batch_size=2", "num_frames=4"]
    run(load_eval_config(argv), judge=lambda messages: "Rating: 4")
    result = json.loads((out / "results.json").read_text())
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert result["num_items"] == NUM_ITEMS[name] == len(lines) == len({json.loads(x)["id"] for x in lines})
    assert result["benchmark"] == name and result["config"]["max_new_tokens"] == 4
    assert result["mmalign_version"] and "time" in result and (out / "results.md").is_file()
    # Random words rarely answer a question; those that do not are counted and scored wrong.
    assert len(result["unparseable_ids"]) <= NUM_ITEMS[name]
    counts = [v for k, v in _flat(result["metrics"]).items() if k.endswith(".n") or k == "n"]
    assert not counts or max(counts) <= NUM_ITEMS[name]


def _flat(metrics, prefix=""):
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
