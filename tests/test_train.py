"""The command line: recipes, overrides, one-line errors on bad input, saving and pushing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from mmalign.config import build_setup, list_recipes, load_config
from mmalign.errors import ConfigError
from mmalign.train import main

PAPER_RECIPES = ("halva_llava7b", "halva_llava13b", "dpo_llava7b", "rrpo_llava_video7b")


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipes_load_with_official_settings(name):
    setup = load_config([f"recipe={name}", "bf16=false"])  # bf16 needs a GPU; the rest is checked
    args = setup.training
    assert setup.model.lora_r == 128 and setup.model.lora_alpha == 256
    assert args.learning_rate == 5e-6 and args.num_train_epochs == 1 and args.lr_scheduler_type.value == "cosine"
    expected = {
        "halva_llava7b": ("dpa", "llava-hf/llava-1.5-7b-hf", {"alpha": 0.4}),
        "halva_llava13b": ("dpa", "llava-hf/llava-1.5-13b-hf", {"alpha": 0.5}),
        "dpo_llava7b": ("dpo", "llava-hf/llava-1.5-7b-hf", {"beta": 0.1}),
        "rrpo_llava_video7b": ("rrpo", "llava-hf/LLaVA-Video-7B-Qwen2-hf", {"alpha": 0.01, "beta": 0.1}),
    }[name]
    assert (setup.run.method, setup.model.model) == expected[:2]
    for key, value in expected[2].items():
        assert getattr(args, key) == value
    # every dropout off, as the official trainers (LoRA's too)
    assert args.disable_dropout is True and setup.model.lora_dropout == 0.0
    if name.startswith(("halva", "dpo")):
        # 64 pairs per step: 4 per device x 4 accumulation x the paper's 4 GPUs, or x 2 on 8 GPUs
        assert (args.per_device_train_batch_size, args.global_batch_size, args.max_length) == (4, 64, 2048)
        args.apply_global_batch_size(4)
        assert args.gradient_accumulation_steps == 4
        args.apply_global_batch_size(8)
        assert args.gradient_accumulation_steps == 2
        # LLaVA-1.5's v1 conversation and image padding
        assert setup.data.system_prompt.startswith("A chat between a curious human and an artificial intelligence")
        assert setup.data.pad_to_square is True
    if name.startswith("halva"):
        assert args.phrase_reduction == "official" and setup.data.balance_yes_no is True
    if name.startswith("rrpo"):
        assert (setup.data.num_frames, setup.data.frame_sampling) == (16, "interval")
        assert (args.per_device_train_batch_size, args.global_batch_size) == (1, 32)
        args.apply_global_batch_size(4)
        assert args.gradient_accumulation_steps == 8


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_paper_recipes_state_their_effective_batch_and_settings(name):
    from mmalign.train import settings_line

    setup = load_config([f"recipe={name}", "bf16=false"])
    setup.training.apply_global_batch_size(8)
    line = setup.training.effective_batch(8)
    expected = 32 if name.startswith("rrpo") else 64
    assert line.startswith(f"effective batch: {expected} pairs per optimizer step")
    settings = settings_line(setup)
    assert "learning_rate=5e-06" in settings and "lora r=128 alpha=256 dropout=0.0" in settings
    assert "disable_dropout=True" in settings


def test_overrides_reach_every_group_and_dotted_keys_merge():
    setup = load_config(["recipe=tiny", "alpha=0.7", "lora_r=4", "num_frames=8", "max_steps=3", "method=dpa"])
    assert (setup.training.alpha, setup.model.lora_r, setup.data.num_frames, setup.training.max_steps) == (0.7, 4, 8, 3)
    setup = load_config(["recipe=tiny", "activation_checkpointing_kwargs.use_reentrant=true"])
    assert setup.training.activation_checkpointing_kwargs == {"use_reentrant": True}


def test_recipe_given_as_a_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("method: rrpo\nmodel: some/model\nbeta: 0.3\nuse_cpu: true\n")
    setup = load_config([f"recipe={path}"])
    assert (setup.run.method, setup.training.beta) == ("rrpo", 0.3)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["recipe=tiny", "learnig_rate=1e-4"], "unknown key 'learnig_rate'; closest valid keys: learning_rate"),
        (["recipe=tiny", "max_steps=many"], "key 'max_steps' expects int, got 'many'"),
        (["recipe=tiny", "beta=0.1"], "key 'beta' does not apply to method 'dpa'"),
        (["recipe=tinyy"], "no recipe named 'tinyy'; did you mean tiny"),
        (["recipe=tiny", "method=ppo"], "unknown method 'ppo'"),
        (["recipe=tiny", "oops"], "argument 'oops' is not of the form key=value"),
    ],
)
def test_bad_configuration_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_help_lists_recipes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("tiny", *PAPER_RECIPES):
        assert name in out
    assert set(PAPER_RECIPES) | {"tiny"} <= set(list_recipes())


def _write_pairs(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _good(i: int, image: str = "images/pair_000.png") -> dict:
    return {
        "id": f"p{i}",
        "prompt": "Describe the image.",
        "chosen": "There is a <MASK>red</MASK> circle.",
        "rejected": "There is a <MASK>blue</MASK> circle.",
        "images": [image],
    }


BAD_RECORDS = {
    "phrase_count": ({"rejected": "There is a <MASK>blue</MASK> <MASK>square</MASK>."}, "1 tagged phrases but rejected has 2"),
    "unbalanced": ({"chosen": "There is a <MASK>red circle."}, "<MASK> is never closed"),
    "nested": ({"chosen": "A <MASK>red <MASK>big</MASK></MASK> one."}, "nested <MASK>"),
    "missing_image": ({"images": ["images/nope.png"]}, "image file not found"),
    "unreadable_image": ({"images": ["broken.png"]}, "cannot read image"),
    "missing_video": ({"images": [], "video": "clips/nope.mp4"}, "video file not found"),
    "unreadable_video": ({"images": [], "video": "broken.mp4"}, "cannot read video"),
    "empty_response": ({"chosen": "  ", "rejected": "No."}, "empty chosen response"),
    "too_long": ({"prompt": "Describe the image. " * 200}, "over max_length=256"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_record_stops_before_training_with_file_line_and_id(case, demo_data, tiny_model_dir, tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    (tmp_path / "broken.mp4").write_bytes(b"not a video either")
    (tmp_path / "images").symlink_to(demo_data / "images")
    change, message = BAD_RECORDS[case]
    records = [_good(0), _good(1), {**_good(2), **change}, _good(3)]
    train_file = _write_pairs(tmp_path / "pairs.jsonl", records)
    code = main(
        [
            f"model={tiny_model_dir('llava')}",
            "method=dpa",
            f"train_file={train_file}",
            f"media_root={tmp_path}",
            f"output_dir={tmp_path / 'out'}",
            "use_cpu=true",
            "max_length=256",
            "report_to=none",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{train_file}:3" in err and "record 'p2'" in err and message in err, err
    assert not (tmp_path / "out").exists()  # no training step, nothing written


def test_command_line_process_exits_nonzero_with_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mmalign.train", "recipe=tiny", "lora_rank=4"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmalign.train: error: unknown key 'lora_rank'; closest valid keys:")
    assert "lora_r" in lines[0].split("closest valid keys:")[1].split(", ")


def test_config_rejects_missing_model():
    with pytest.raises(ConfigError, match="no model given"):
        build_setup({"method": "dpa"})


def test_bare_no_on_the_command_line_means_the_strategy_no():
    # YAML reads `no` as False; save_strategy takes no bool, so it must come through as "no".
    setup = load_config(["recipe=tiny", "save_strategy=no", "eval_strategy=no"])
    assert setup.training.save_strategy.value == "no" and setup.training.eval_strategy.value == "no"
    with pytest.raises(ConfigError, match="key 'use_peft' expects bool"):
        load_config(["recipe=tiny", "use_peft=maybe"])


def test_switching_the_method_of_a_recipe_leaves_out_its_keys_with_a_notice(caplog):
    caplog.set_level(logging.INFO, logger="mmalign")
    setup = load_config(["recipe=smoke", "method=dpo"])
    assert setup.run.method == "dpo" and not hasattr(setup.training, "alpha")
    assert "smoke: key 'alpha' does not apply to method 'dpo'; left out" in caplog.text
    assert load_config(["recipe=smoke", "method=dpo", "alpha=null"]).run.method == "dpo"
    with pytest.raises(ConfigError, match="key 'alpha' does not apply to method 'dpo'"):
        load_config(["recipe=smoke", "method=dpo", "alpha=0.3"])  # typed for the wrong method


def test_fps_typed_over_a_recipe_with_num_frames_wins_with_a_notice(caplog):
    caplog.set_level(logging.INFO, logger="mmalign")
    setup = load_config(["recipe=rrpo_llava_video7b", "bf16=false", "fps=2"])
    assert (setup.data.num_frames, setup.data.fps) == (None, 2.0)
    assert "sampling videos by fps; the recipe's num_frames=16 is left out" in caplog.text
    with pytest.raises(ConfigError, match="num_frames=8 and fps=2 are both set"):
        load_config(["recipe=rrpo_llava_video7b", "bf16=false", "fps=2", "num_frames=8"])


@pytest.mark.parametrize("spelling", ["activation_checkpointing", "gradient_checkpointing"])
def test_both_spellings_of_activation_checkpointing_are_accepted(spelling):
    from mmalign.trainers.base import CHECKPOINTING

    args = load_config(["recipe=smoke", f"{spelling}=true", f"{spelling}_kwargs.use_reentrant=true"]).training
    assert getattr(args, CHECKPOINTING) is True and getattr(args, f"{CHECKPOINTING}_kwargs") == {"use_reentrant": True}
    assert getattr(load_config(["recipe=smoke"]).training, f"{CHECKPOINTING}_kwargs") == {"use_reentrant": False}


def test_builtin_assets_find_their_media_whatever_media_root_says(tmp_path):
    from mmalign.builtin import resolve_builtins
    from mmalign.data.readers import read_conversations
    from mmalign.train import anchor_media

    setup = load_config(["recipe=smoke", f"train_file={tmp_path / 'mine.jsonl'}", f"media_root={tmp_path}"])
    resolve_builtins(setup)
    assert setup.data.media_root == str(tmp_path) and str(tmp_path) not in setup.media_roots
    refs = anchor_media(read_conversations(setup.data.ref_file), setup.media_roots[setup.data.ref_file])
    assert refs and all(Path(image).is_file() for ref in refs for image in ref.images)
