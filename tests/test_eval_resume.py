"""A killed evaluation resumes where it stopped: nothing answered twice, nothing stored twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmalign.eval.predictions import PredictionStore
from mmalign.eval.runner import load_eval_config, run
from mmalign.errors import DataError
from mmalign.tiny import make_image

NUM_QUESTIONS = 400


class Spy:
    def __init__(self):
        self.asked = []

    def generate(self, items, sampling):
        self.asked += [item.id for item in items]
        return ["No." for _ in items]


def _pope(root: Path, n: int) -> list[str]:
    (root / "images").mkdir(parents=True)
    make_image(0).save(root / "images" / "a.jpg")
    with (root / "coco_pope_random.json").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"question_id": i, "image": "a.jpg", "text": f"Is there a dog number {i}?", "label": "no"}) + "\n")
    return [f"annotation={root / 'coco_pope_random.json'}", f"media_root={root / 'images'}", "benchmark=pope"]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.is_file() else []


def test_killed_evaluation_resumes_without_redoing_items(tmp_path, tiny_model_dir):
    args = _pope(tmp_path, NUM_QUESTIONS) + [f"model={tiny_model_dir('llava')}", f"output_dir={tmp_path / 'out'}",
                                            "batch_size=1", "max_new_tokens=16"]
    predictions = tmp_path / "out" / "predictions.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "mmalign.evaluate", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(_lines(predictions)) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.returncode == 0:
        pytest.fail("the evaluation finished before it could be killed")
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]

    before = _lines(predictions)  # a last line cut mid-write is dropped on resume
    done = [json.loads(line)["id"] for line in before if line.endswith("}")]
    assert 3 <= len(done) < NUM_QUESTIONS

    spy = Spy()
    metrics = run(load_eval_config(args), backend=spy)
    assert sorted(spy.asked) == sorted({f"random/{i}" for i in range(NUM_QUESTIONS)} - set(done))
    after = _lines(predictions)
    ids = [json.loads(line)["id"] for line in after]
    assert len(ids) == len(set(ids)) == NUM_QUESTIONS
    assert after[: len(done)] == before[: len(done)]  # the model's earlier answers are kept as they were
    assert metrics["random"]["n"] == NUM_QUESTIONS

    again = Spy()  # a finished evaluation re-scores without asking anything
    run(load_eval_config(args), backend=again)
    assert again.asked == []


def test_partial_last_line_is_cut_before_appending(tmp_path):
    store = PredictionStore(tmp_path)
    store.append([{"id": "a", "prediction": "yes"}])
    with store.path.open("a") as f:
        f.write('{"id": "b", "predic')  # a kill during the write
    assert set(store.load()) == {"a"}
    store.repair()
    store.append([{"id": "b", "prediction": "no"}])
    assert [json.loads(line)["id"] for line in store.path.read_text().splitlines()] == ["a", "b"]


def test_shards_of_several_processes_are_merged(tmp_path):
    PredictionStore(tmp_path, rank=0, world_size=2).append([{"id": "a", "prediction": "1"}])
    PredictionStore(tmp_path, rank=1, world_size=2).append([{"id": "b", "prediction": "2"}])
    # resumed in one process, both shards count as done
    assert set(PredictionStore(tmp_path).load()) == {"a", "b"}


def test_resuming_with_other_settings_is_refused(tmp_path):
    args = _pope(tmp_path, 3) + ["model=unused", f"output_dir={tmp_path / 'out'}"]
    run(load_eval_config(args), backend=Spy())
    with pytest.raises(DataError, match="other settings .*max_new_tokens"):
        run(load_eval_config(args + ["max_new_tokens=5"]), backend=Spy())
    spy = Spy()
    run(load_eval_config(args + ["max_new_tokens=5", "overwrite=true"]), backend=spy)
    assert len(spy.asked) == 3  # overwrite starts over


def test_items_are_sharded_across_launched_processes(tmp_path, tiny_model_dir):
    """Two processes (torchrun, as accelerate launches them) answer disjoint halves; one scores all."""
    args = _pope(tmp_path, 10) + [f"model={tiny_model_dir('llava')}", f"output_dir={tmp_path / 'out'}",
                                 "batch_size=2", "max_new_tokens=4"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "mmalign.evaluate", *args]
    done = subprocess.run(command, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    shards = [[json.loads(x)["id"] for x in _lines(tmp_path / "out" / f"predictions.rank{r}.jsonl")] for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == sorted(f"random/{i}" for i in range(10))
    assert len(shards[0]) == len(shards[1]) == 5
    assert json.loads((tmp_path / "out" / "results.json").read_text())["metrics"]["random"]["n"] == 10


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"prediction": "yes"}\n', "no 'id'"),
        (b'{"id": "a", "prediction": 7}\n', "record 'a': corrupt predictions line: 'prediction' must be text, got 7"),
        (b'{"id": "a"}\n', "record 'a': corrupt predictions line: no 'prediction'"),
        (b'["a", "yes"]\n', "expected a JSON object"),
        (b'{"id": "a", "prediction": "caf\xe9"}\n', "not UTF-8"),
    ],
)
def test_unusable_prediction_lines_are_one_error_naming_the_line(tmp_path, content, message):
    (tmp_path / "predictions.jsonl").write_bytes(b'{"id": "ok", "prediction": "no"}\n' + content)
    with pytest.raises(DataError, match=message) as info:
        PredictionStore(tmp_path).load("prediction")
    assert f"{tmp_path / 'predictions.jsonl'}:2" in str(info.value)
