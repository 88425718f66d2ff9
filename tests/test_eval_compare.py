"""``compare`` puts a base and an aligned run side by side, with the differences and a chart."""

from __future__ import annotations

import eval_fixtures as fx
from PIL import Image

from mmalign.eval.runner import load_eval_config, run
from mmalign.evaluate import main


class Answers:
    def __init__(self, text):
        self.text = text

    def generate(self, items, sampling):
        return [self.text(item) for item in items]


def _run(tmp_path, name, answer):
    values = fx.pope(tmp_path / "data")
    out = tmp_path / name
    run(load_eval_config(fx.args(values) + ["model=base-model", f"output_dir={out}"]), backend=Answers(answer))
    return out


def test_compare_two_runs(tmp_path, capsys):
    # labels: random yes, no, yes; adversarial no, no, yes
    base = _run(tmp_path, "base", lambda item: "Yes")  # random 2/3, adversarial 1/3 right
    aligned = _run(tmp_path, "aligned", lambda item: item.meta["label"])  # all right
    capsys.readouterr()
    chart = tmp_path / "chart.png"
    assert main(["compare", f"runs={base},{aligned}", "labels=base,aligned", f"output={chart}"]) == 0
    table = capsys.readouterr().out
    assert "| metric | base | aligned | aligned − base |" in table
    assert "| random.accuracy | 66.67 | 100.00 | +33.33 |" in table
    assert "| adversarial.accuracy | 33.33 | 100.00 | +66.67 |" in table
    assert "| mean.accuracy | 50.00 | 100.00 | +50.00 |" in table
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.width > 300


def test_compare_needs_finished_runs(tmp_path, capsys):
    base = _run(tmp_path, "base", lambda item: "Yes")
    capsys.readouterr()
    assert main(["compare", f"runs={base},{tmp_path / 'missing'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no results file" in err[0] and "missing" in err[0]
    assert main(["compare", f"runs={base}"]) == 2
