"""Bad input stops with one line naming the file and the item; unreadable answers are named, one
line each, and scored as wrong."""

from __future__ import annotations

import json
import logging

import eval_fixtures as fx
import pytest

from mmalign.eval.runner import load_eval_config, run
from mmalign.evaluate import main


def _fails(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_benchmark_file_in_the_wrong_format(tmp_path, capsys):
    values = fx.pope(tmp_path)
    path = tmp_path / "pope" / "coco_pope_random.json"
    path.write_text(json.dumps({"question_id": 7, "image": "x.jpg", "question": "Is there a dog?"}) + "\n")
    line = _fails(capsys, fx.args(values) + ["model=m", f"output_dir={tmp_path / 'out'}"])
    assert f"{path}:1" in line and "record '7'" in line and "missing field 'text', 'label'" in line


def test_invalid_json(tmp_path, capsys):
    values = fx.tvbench(tmp_path)
    (tmp_path / "json" / "action_count.json").write_text('[{"video": "video_1.mp4",\n "question": }]')
    line = _fails(capsys, fx.args(values) + ["model=m"])
    assert "action_count.json:2" in line and "invalid JSON" in line


@pytest.mark.parametrize(
    "build,break_it,expected",
    [
        (fx.mme, lambda root: (root / "MME_Benchmark_release_version" / "count" / "000000041180.txt").write_text("Is there a cat? Yes\n"),
         "000000041180.txt:1: record '000000041180': expected 'question<TAB>Yes|No'"),
        (fx.tempcompass, lambda root: (root / "questions" / "multi-choice.json").write_text("[]"),
         "expected {video_id: {dimension: [questions]}}"),
        (fx.vcrbench, lambda root: (root / "data.json").write_text('[{"qid": "1", "goal": "x", "video_file": "v.mp4", "ground_truth": [0, 2]}]'),
         "record '1': ground_truth [0, 2] is not an order"),
        (fx.vidhalluc, lambda root: (root / "ach_mcq.json").write_text(
            '{"0": {"c": {"Question": "q", "Choices": {"A": "x", "B": "y"}, "Correct Answer": "E"}}}'),
         "record '0/c': correct answer 'E' names no option"),
    ],
)
def test_format_errors_name_the_file_and_item(tmp_path, capsys, build, break_it, expected):
    values = build(tmp_path)
    break_it(tmp_path)
    assert expected in _fails(capsys, fx.args(values) + ["model=m"])


def test_missing_image(tmp_path, capsys):
    values = fx.pope(tmp_path)
    (tmp_path / "val2014" / "COCO_val2014_000000000001.jpg").unlink()
    line = _fails(capsys, fx.args(values) + ["model=m"])
    assert "coco_pope_adversarial.json:2: record 'adversarial/2': image file not found:" in line
    assert line.endswith("COCO_val2014_000000000001.jpg")


def test_missing_video(tmp_path, capsys):
    values = fx.tvbench(tmp_path)
    (tmp_path / "video" / "object_shuffle" / "video_2.mp4").unlink()
    line = _fails(capsys, fx.args(values) + ["model=m"])
    assert "object_shuffle.json:2: record 'object_shuffle/0': video file not found:" in line


def test_unparseable_answers_are_named_and_scored_wrong(tmp_path, caplog):
    class Garbled:
        def generate(self, items, sampling):
            return ["Yes" if item.id == "random/1" else "qwzx blorp" for item in items]

    values = fx.pope(tmp_path)
    # POPE's own reader takes any answer without "no" for a yes; the strict one names them
    config = load_eval_config(fx.args(values) + ["model=m", f"output_dir={tmp_path / 'out'}", "strict_parsing=true"])
    with caplog.at_level(logging.WARNING, logger="mmalign.eval"):
        metrics = run(config, backend=Garbled())
    lines = [r.getMessage() for r in caplog.records if "cannot read" in r.getMessage()]
    assert len(lines) == 5
    assert lines[0].startswith(f"{tmp_path / 'out' / 'predictions.jsonl'}: item 'adversarial/1'")
    assert metrics["random"]["n"] == 3 and metrics["random"]["unparseable"] == 2
    assert metrics["random"]["accuracy"] == pytest.approx(100 / 3)  # 1 right of all 3, not of the 1 readable


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["benchmark=popee", "model=m"], "unknown benchmark 'popee'; did you mean pope?"),
        (["benchmark=pope", "model=m", "anotation=x"], "unknown key 'anotation'; closest valid keys: annotation"),
        (["benchmark=pope", "model=m", "batch_size=many"], "key 'batch_size' expects int"),
        (["benchmark=pope"], "no model given"),
        (["recipe=popee"], "no recipe named 'popee'; did you mean pope?"),
    ],
)
def test_configuration_errors(capsys, argv, expected):
    assert expected in _fails(capsys, argv)


def test_vllm_missing_is_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed")
    values = fx.pope(tmp_path)
    line = _fails(capsys, fx.args(values) + ["model=m", "backend=vllm", f"output_dir={tmp_path / 'out'}"])
    assert "backend=vllm needs the vllm package" in line


def test_a_failing_judge_keeps_its_replies_and_resumes(tmp_path, capsys):
    from mmalign.eval.judge import openai_judge

    assert hasattr(openai_judge("gpt-4o", "http://127.0.0.1:9/v1", "UNSET_KEY_VARIABLE", 2), "generate")

    class Answers:
        def generate(self, items, sampling):
            return [f"answer {item.id}" for item in items]

    asked = []

    def flaky(messages):
        asked.append(messages[-1]["content"])
        if "answer 1" in messages[-1]["content"]:
            raise ConnectionError("server went away")
        return "Rating: 6"

    values = fx.mmhal(tmp_path)
    config = load_eval_config(fx.args(values) + ["model=m", f"output_dir={tmp_path / 'out'}", "judge_concurrency=1"])
    from mmalign.errors import MMAlignError

    with pytest.raises(MMAlignError, match=r"the judge failed on 1 item\(s\), first '1': ConnectionError: server went away"):
        run(config, backend=Answers(), judge=flaky)
    assert len(asked) == 3
    asked.clear()
    metrics = run(config, backend=Answers(), judge=lambda messages: asked.append(messages) or "Rating: 2")
    assert len(asked) == 1  # only the item whose judgement failed is judged again
    assert metrics["score"] == pytest.approx((6 + 2 + 6) / 3)
