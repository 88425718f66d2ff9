"""``python -m mmalign.gen_pairs``: help, one-line errors, and pairs that training takes unchanged."""

from __future__ import annotations

import json

from gen_fixtures import write_vg

from mmalign.config import list_recipes
from mmalign.gen_pairs import main
from mmalign.train import main as train_main

GEN_RECIPES = ("halva_vg", "halva_coco", "selfalign_video", "selfalign_image", "autotag")


def test_help_lists_the_generation_recipes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in GEN_RECIPES)
    assert set(GEN_RECIPES) <= set(list_recipes("gen"))


def test_unknown_key_is_one_line(capsys, tmp_path):
    assert main(["recipe=halva_vg", "vg_dri=x", f"output_file={tmp_path / 'p.jsonl'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'vg_dri'; closest valid keys: vg_dir" in err[0]


def test_halva_vg_pairs_train_unchanged(tmp_path, tiny_model_dir):
    root = write_vg(tmp_path / "vgset")
    out = tmp_path / "pairs" / "halva.jsonl"
    code = main(["recipe=halva_vg", "llm=none", f"vg_dir={root / 'vg'}", f"media_root={root / 'images'}",
                 f"output_file={out}", "progress=false", "min_cooccurrence=1"])
    assert code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["kind"] for r in records} == {"closed", "qa"}
    assert all(set(r) == {"id", "prompt", "chosen", "rejected", "images", "kind", "source"} for r in records)
    stats = json.loads((out.parent / "halva.stats.json").read_text())
    assert stats["pairs"] == len(records) and stats["rejected"]["no_ground_truth"] == 1
    code = train_main([
        "recipe=tiny", f"model={tiny_model_dir('llava')}", f"train_file={out}", "ref_file=null",
        f"media_root={root / 'images'}", f"output_dir={tmp_path / 'run'}", "max_steps=2", "max_length=1024",
        "per_device_train_batch_size=2", "logging_steps=1",
    ])
    assert code == 0 and (tmp_path / "run" / "adapter_config.json").is_file()
