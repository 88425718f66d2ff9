"""The embedded experiment (``recipe=tiny``), reduced: the world's base hallucinates on unusual
scenes, DPA on the world's pairs lowers that, usual scenes stay described, and the reported CHAIR
numbers agree with a plain word count over the saved captions."""

from __future__ import annotations

import json
import logging
import re

import pytest

from mmalign.config import load_config
from mmalign.world.assets import prepare_world, world_dir
from mmalign.train import main, run


def _word_count_chair(predictions: list[dict], scenes: dict[int, dict], synonyms: dict[str, list[str]]) -> dict[str, float]:
    """CHAIRi / CHAIRs / recall by exact word lookup: the world's captions use only its own words."""
    category = {w: c for c, words in synonyms.items() for w in words}
    bad_captions = mentions = bad = covered = truth_total = 0
    for record in predictions:
        scene = scenes[int(record["id"])]
        truth = {o["category"] for o in scene["objects"]}
        found = [category[w] for w in re.findall(r"[a-z]+", record["prediction"].lower()) if w in category]
        wrong = [c for c in found if c not in truth]
        mentions, bad, bad_captions = mentions + len(found), bad + len(wrong), bad_captions + bool(wrong)
        covered, truth_total = covered + len(set(found) & truth), truth_total + len(truth)
    return {"chair_s": 100 * bad_captions / len(predictions), "chair_i": 100 * bad / mentions, "recall": 100 * covered / truth_total}


def test_dpa_on_the_world_lowers_hallucination_and_keeps_usual_scenes(tmp_path):
    # The base's captions are cached with the base; a cache made with other settings (an earlier
    # version's defaults) is captioned again, not an error.
    stale = prepare_world(0, progress=False).base / "eval" / "heldout_usual"
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "run_config.json").write_text(json.dumps({"model": "another model"}))
    out = tmp_path / "tiny"
    run(load_config(["recipe=tiny", "max_steps=300", "world_eval_samples=100", f"output_dir={out}", "disable_tqdm=true"]))
    result = json.loads((out / "world_comparison.json").read_text())
    base, dpa = result["models"]["base"], result["models"]["dpa"]
    assert base["unusual"]["chair_s"] > 20 and base["usual"]["chair_s"] < 2  # the base hallucinates like LLaVA
    assert dpa["unusual"]["chair_i"] < 0.9 * base["unusual"]["chair_i"]
    assert abs(dpa["usual"]["recall"] - base["usual"]["recall"]) <= 2
    assert 0 < result["kl_per_token"] < 0.5

    root = world_dir(0) / "world"  # the recipe's seed
    scenes = {json.loads(line)["image_id"]: json.loads(line) for line in (root / "scenes_heldout_unusual.jsonl").open()}
    synonyms = json.loads((root / "synonyms.json").read_text())
    predictions = [json.loads(line) for line in (out / "world_eval" / "heldout_unusual" / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 100
    expected = _word_count_chair(predictions, scenes, synonyms)
    for key, value in expected.items():
        assert dpa["unusual"][key] == pytest.approx(value)
    assert (out / "adapter_config.json").is_file() and (out / "world_comparison.md").is_file()
    assert json.loads((stale / "run_config.json").read_text())["model"] != "another model"


def test_world_names_are_checked_before_anything_is_built(tmp_path, capsys):
    assert main(["recipe=tiny", "train_file=world://captions", f"output_dir={tmp_path}"]) == 2
    assert "train_file=world://captions: unknown world asset; train_file takes world://pairs" in capsys.readouterr().err


def test_tiny_recipe_with_other_assets_trains_them_and_skips_the_comparison(tmp_path, caplog):
    out = tmp_path / "run"
    caplog.set_level(logging.INFO, logger="mmalign")
    run(load_config(["recipe=tiny", "model=tiny://llava", "train_file=tiny://pairs", "ref_file=tiny://refs",
                     "max_steps=2", f"output_dir={out}", "disable_tqdm=true"]))
    assert (out / "adapter_config.json").is_file() and not (out / "world_comparison.json").exists()
    assert "no comparison" in caplog.text
