"""The catalogue of hostile input: what each malformed file, record or setting gets from the three
command lines (``mmalign.train``, ``mmalign.gen_pairs``, ``mmalign.evaluate``).

Every case is one row of :data:`CASES`: the command, how to build its arguments in a scratch folder,
and the outcome — ``error``: exit code 2 and exactly one line on stderr holding each expected
fragment (the file, line or record, and what is wrong), never a traceback; ``accepted``: every check
passes and the run goes on (for training: as far as loading the model, which is stubbed out here so
that the table runs in seconds; the runs themselves are tested in test_checkpoints.py and
test_trainers.py); ``reported``: the run finishes and names the bad record in its log. A new kind
of bad input gets a row here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mmalign.train
from mmalign.evaluate import main as evaluate_main
from mmalign.gen_pairs import main as gen_pairs_main
from mmalign.train import main as train_main

MAINS = {"train": train_main, "gen_pairs": gen_pairs_main, "evaluate": evaluate_main}
PROGS = {"train": "mmalign.train", "gen_pairs": "mmalign.gen_pairs", "evaluate": "mmalign.evaluate"}


class ReachedModelLoading(Exception):
    """Raised in place of loading the model: every check before it passed."""


@dataclass
class Case:
    command: str
    build: Callable[[Path, dict], list[str]]  # (scratch folder, shared assets) -> argv
    outcome: str  # error | accepted | reported
    expect: tuple[str, ...] = ()  # fragments of the error line / of the log ({tmp} = scratch folder)


# ---------------------------------------------------------------------------------------------
# training inputs


def _good_pairs(assets: dict) -> list[dict]:
    return [json.loads(line) for line in (assets["demo"] / "pairs.jsonl").read_text().splitlines()[:4]]


def _pairs_file(tmp: Path, assets: dict, first: dict | None = None, raw: bytes | None = None, name="pairs.jsonl") -> Path:
    path = tmp / name
    if raw is not None:
        path.write_bytes(raw)
        return path
    records = _good_pairs(assets)
    records[1] = {**records[1], **(first or {})}
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _train(tmp: Path, assets: dict, *extra: str, pairs: Path | None = None) -> list[str]:
    """The smoke recipe on four demo pairs, offline, with the tiny model's processor."""
    return ["recipe=smoke", f"model={assets['model']}", f"train_file={pairs or _pairs_file(tmp, assets)}",
            f"media_root={assets['demo']}", "ref_file=null", f"output_dir={tmp / 'out'}", "max_steps=1",
            "disable_tqdm=true", *extra]


def _pair_case(change: dict, *fragments: str, extra: tuple[str, ...] = ()) -> Case:
    """A training file whose second record (line 2, id tiny-001) carries ``change``."""
    return Case("train", lambda tmp, a: _train(tmp, a, *extra, pairs=_pairs_file(tmp, a, change)), "error",
                ("{tmp}/pairs.jsonl:2: record 'tiny-001': ", *fragments))


def _setting_case(*argv: str, expect: str) -> Case:
    return Case("train", lambda tmp, a: _train(tmp, a, *argv), "error", (expect,))


def _refs_case(conversation: dict, *fragments: str) -> Case:
    def build(tmp: Path, assets: dict) -> list[str]:
        refs = tmp / "refs.jsonl"
        refs.write_text(json.dumps({"id": "ref-x", "image": "images/ref_000.png", **conversation}) + "\n")
        return [*_train(tmp, assets), f"ref_file={refs}"]

    return Case("train", build, "error", ("{tmp}/refs.jsonl:1: record 'ref-x': ", *fragments))


def _recipe_case(text: str, *fragments: str) -> Case:
    def build(tmp: Path, assets: dict) -> list[str]:
        (tmp / "mine.yaml").write_text(text)
        return [f"recipe={tmp / 'mine.yaml'}"]

    return Case("train", build, "error", fragments)


def _grey16_pairs(tmp: Path, assets: dict) -> list[str]:
    Image.fromarray(np.full((32, 32), 32896, dtype=np.uint16)).save(tmp / "grey16.png")
    return _train(tmp, assets, pairs=_pairs_file(tmp, assets, {"images": [str(tmp / "grey16.png")]}))


def _file_as_output_dir(tmp: Path, assets: dict) -> list[str]:
    (tmp / "taken").write_text("a file")
    return [*_train(tmp, assets), f"output_dir={tmp / 'taken'}"]


def _own_data_with_builtin_refs(tmp: Path, assets: dict) -> list[str]:
    mine = tmp / "mine"
    (mine / "pics").mkdir(parents=True)
    records = _good_pairs(assets)
    for record in records:
        Image.open(assets["demo"] / record["images"][0]).save(mine / "pics" / Path(record["images"][0]).name)
        record["images"] = ["pics/" + Path(record["images"][0]).name]
    (mine / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return ["recipe=smoke", f"model={assets['model']}", f"train_file={mine / 'mine.jsonl'}", f"media_root={mine}",
            f"output_dir={tmp / 'out'}", "disable_tqdm=true"]


SHAPE = "There is a small yellow <MASK>{}</MASK> in the picture."
TRAIN_CASES = {
    # files that cannot be read as JSON text
    "train_file_not_utf8": Case("train", lambda tmp, a: _train(tmp, a, pairs=_pairs_file(tmp, a, raw=b'{"id": "caf\xe9"}\n')),
                                "error", ("{tmp}/pairs.jsonl:1: not UTF-8 text (byte 0xe9",)),
    "json_nested_100000_deep": Case("train", lambda tmp, a: _train(tmp, a, pairs=_pairs_file(
        tmp, a, raw=b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]", name="deep.json")), "error",
        ("{tmp}/deep.json:1: invalid JSON: nested too deeply",)),
    # tags and placeholders that would put markup into what the model learns to say
    "lower_case_mask_tags": _pair_case({"chosen": "A <mask>square</mask>.", "rejected": "A <mask>circle</mask>."},
                                       "chosen: malformed tag '<mask>'"),
    "spaced_mask_tag": _pair_case({"rejected": SHAPE.format("circle").replace("</MASK>", "</ MASK>")},
                                  "rejected: malformed tag '</ MASK>'"),
    "tags_in_the_prompt": _pair_case({"prompt": "Describe the <MASK>image</MASK>."}, "the prompt holds a phrase tag"),
    "preference_format_on_tagged_data": _setting_case("format=preference", expect="pairs.jsonl:1: record 'tiny-000': "
                                                      "format=preference takes untagged text"),
    "zero_width_space_phrase": _pair_case({"chosen": SHAPE.format("\u200b")}, "chosen: empty tagged phrase", "invisible"),
    "chosen_identical_to_rejected": _pair_case({"chosen": SHAPE.format("square"), "rejected": SHAPE.format("square")},
                                               "chosen and rejected are identical"),
    "every_phrase_equal": _pair_case({"chosen": SHAPE.format("square"), "rejected": SHAPE.format("square").replace("picture", "photo")},
                                     "every tagged phrase of chosen equals its rejected phrase"),
    "image_placeholder_in_a_response": _pair_case({"chosen": "<image> " + SHAPE.format("square")},
                                                  "chosen holds the media placeholder <image>"),
    # media fields
    "images_a_number": _pair_case({"images": 3}, "field 'images' must be a path or a list of paths, got 3"),
    "images_null_with_a_placeholder": _pair_case({"images": None, "prompt": "<image>\nDescribe the image."},
                                                 "1 <image> placeholder(s) but the record has 0 images"),
    "video_empty_string": _pair_case({"images": [], "video": ""}, "field 'video' must be a path, got ''"),
    "grey_16_bit_png": Case("train", _grey16_pairs, "accepted"),
    # reference samples
    "two_placeholders_one_reference_image": _refs_case(
        {"conversations": [{"from": "human", "value": "<image>\n<image>\nWhat is it?"}, {"from": "gpt", "value": "A shape."}]},
        "2 <image> placeholder(s) but the record has 1 images"),
    "conversations_a_string": _refs_case({"conversations": "human: what is it?"},
                                         "field 'conversations' must be a list of turns, got str"),
    # settings
    "num_frames_zero": _setting_case("num_frames=0", expect="num_frames=0: a video needs at least one frame"),
    "learning_rate_negative": _setting_case("learning_rate=-0.1", expect="learning_rate=-0.1: a learning rate cannot be negative"),
    "gradient_accumulation_steps_zero": _setting_case("gradient_accumulation_steps=0", expect="gradient_accumulation_steps=0"),
    "lora_r_zero": _setting_case("lora_r=0", expect="lora_r=0: a LoRA rank is at least 1"),
    "batch_size_zero": _setting_case("per_device_train_batch_size=0", expect="per_device_train_batch_size=0"),
    "max_steps_zero": _setting_case("max_steps=0", expect="max_steps=0: give a positive number of steps"),
    "alpha_negative": _setting_case("alpha=-1", expect="alpha=-1: a negative KL weight"),
    "max_samples_negative": _setting_case("max_samples=-1", expect="max_samples=-1: use at least one (or leave it unset for all)"),
    "num_frames_and_fps_both_typed": _setting_case("num_frames=4", "fps=1.0", expect="num_frames=4 and fps=1.0 are both set"),
    "unknown_tiny_family": _setting_case("model=tiny://llama3", expect="model=tiny://llama3: no tiny model family 'llama3'"),
    "alpha_typed_for_dpo": _setting_case("method=dpo", "alpha=0.3", expect="key 'alpha' does not apply to method 'dpo'"),
    "output_dir_is_a_file": Case("train", _file_as_output_dir, "error", ("output_dir={tmp}/taken is a file, not a directory",)),
    "recipe_a_yaml_list": _recipe_case("- method: dpa\n- model: x\n", "{tmp}/mine.yaml: a recipe must be a mapping"),
    "recipe_yaml_syntax_error": _recipe_case("method: dpa\nmodel: [x\nalpha: 1\n", "{tmp}/mine.yaml:", "invalid YAML"),
    "resume_from_a_missing_checkpoint": Case("train", lambda tmp, a: _train(tmp, a, f"resume_from_checkpoint={tmp}/checkpoint-5"),
                                             "error", ("resume_from_checkpoint={tmp}/checkpoint-5: no such checkpoint folder",)),
    # settings that are fine and must stay so
    "resume_true_before_any_checkpoint": Case("train", lambda tmp, a: _train(tmp, a, "resume_from_checkpoint=true"), "accepted"),
    "recipe_switched_to_dpo": Case("train", lambda tmp, a: _train(tmp, a, "method=dpo"), "accepted",
                                   ("key 'alpha' does not apply to method 'dpo'; left out",)),
    "recipe_switched_to_dpo_alpha_null": Case("train", lambda tmp, a: _train(tmp, a, "method=dpo", "alpha=null"), "accepted"),
    "own_data_and_media_root_with_builtin_refs": Case("train", _own_data_with_builtin_refs, "accepted"),
    "checkpointing_in_the_older_spelling": Case("train", lambda tmp, a: _train(tmp, a, "gradient_checkpointing=true"), "accepted"),
}


# ---------------------------------------------------------------------------------------------
# pair generation inputs


def _vg(tmp: Path, assets: dict, change: Callable[[dict], None], *extra: str, drop: str | None = None) -> list[str]:
    """The hand-made Visual Genome set of gen_fixtures, with ``change`` applied to its parsed files."""
    vg = tmp / "vg"
    vg.mkdir()
    files = {p.stem: json.loads(p.read_text()) for p in (assets["vg"] / "vg").glob("*.json")}
    change(files)
    for name, records in files.items():
        if name != drop:
            (vg / f"{name}.json").write_text(json.dumps(records, indent=1))
    return ["pipeline=halva", f"vg_dir={vg}", f"media_root={assets['vg'] / 'images'}", f"output_file={tmp / 'pairs.jsonl'}",
            "llm=none", "progress=false", "kinds=[closed]", "vg_files=[objects,attributes,relationships]", *extra]


def _set(path: tuple, value) -> Callable[[dict], None]:
    def change(files: dict) -> None:
        target = files
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _coco_bbox(tmp: Path, assets: dict) -> list[str]:
    Image.new("RGB", (30, 20)).save(tmp / "1.jpg")
    instances = {"images": [{"id": 1, "file_name": "1.jpg", "width": 30, "height": 20}],
                 "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}],
                 "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": ["left", 0, 5, 5]},
                                 {"id": 2, "image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5]}]}
    (tmp / "instances.json").write_text(json.dumps(instances))
    return ["pipeline=halva", f"coco_instances={tmp / 'instances.json'}", f"media_root={tmp}", "llm=none",
            f"output_file={tmp / 'pairs.jsonl'}", "progress=false", "kinds=[closed]"]


def _autotag_not_utf8(tmp: Path, assets: dict) -> list[str]:
    (tmp / "prefs.jsonl").write_bytes(b'{"id": "a", "prompt": "Q", "chosen": "A red car.", "rejected": "A blue car."}\n'
                                      b'{"id": "b", "prompt": "Q\xff", "chosen": "x", "rejected": "y"}\n')
    return ["pipeline=autotag", f"input_file={tmp / 'prefs.jsonl'}", f"output_file={tmp / 'out.jsonl'}", "progress=false"]


GEN_CASES = {
    "vg_width_not_a_number": Case("gen_pairs", lambda tmp, a: _vg(tmp, a, _set(("image_data", 0, "width"), "wide")), "reported",
                                  ("image_data.json:", "field 'width' must be a number, got 'wide'; image skipped",)),
    "vg_names_a_string": Case("gen_pairs", lambda tmp, a: _vg(tmp, a, _set(("objects", 0, "objects", 0, "names"), "horse")), "reported",
                              ("objects.json:", "'names' must be a list of names, got 'horse'; record skipped",)),
    "vg_attributes_a_string": Case("gen_pairs", lambda tmp, a: _vg(tmp, a, _set(("attributes", 0, "attributes", 0, "attributes"), "brown")),
                                   "reported", ("attributes.json:", "'attributes' must be a list, got 'brown'; record skipped")),
    "coco_bbox_not_a_number": Case("gen_pairs", _coco_bbox, "reported",
                                   ("instances.json: annotations[0]: field 'bbox' must be a number, got 'left'; skipped",)),
    "closed_kind_without_question_answers": Case("gen_pairs", lambda tmp, a: _vg(
        tmp, a, lambda files: None, "vg_files=[objects,attributes,relationships,question_answers]", drop="question_answers"), "accepted"),
    "autotag_file_not_utf8": Case("gen_pairs", _autotag_not_utf8, "error", ("{tmp}/prefs.jsonl:2: not UTF-8 text (byte 0xff",)),
    "max_items_negative": Case("gen_pairs", lambda tmp, a: [*_autotag_not_utf8(tmp, a), "max_items=-1"], "error",
                               ("max_items=-1: use at least one item",)),
}


# ---------------------------------------------------------------------------------------------
# evaluation inputs


def _pope_with_predictions(content: bytes) -> Callable[[Path, dict], list[str]]:
    def build(tmp: Path, assets: dict) -> list[str]:
        import eval_fixtures as fx

        values = fx.pope(tmp / "data")
        (tmp / "out").mkdir()
        (tmp / "out" / "predictions.jsonl").write_bytes(b'{"id": "random/1", "prediction": "Yes."}\n' + content)
        return [*fx.args(values), "model=unused", f"output_dir={tmp / 'out'}"]

    return build


def _mvbench_start(tmp: Path, assets: dict) -> list[str]:
    import eval_fixtures as fx

    values = fx.mvbench(tmp / "data")
    path = tmp / "data" / "json" / "action_sequence.json"
    records = json.loads(path.read_text())
    records[0]["start"] = "soon"
    path.write_text(json.dumps(records, indent=1))
    return [*fx.args(values), "model=unused"]


EVAL_CASES = {
    "prediction_file_not_utf8": Case("evaluate", _pope_with_predictions(b'{"id": "random/2", "prediction": "N\xe9"}\n'), "error",
                                     ("{tmp}/out/predictions.jsonl:2: not UTF-8 text",)),
    "prediction_without_id": Case("evaluate", _pope_with_predictions(b'{"prediction": "No."}\n'), "error",
                                  ("{tmp}/out/predictions.jsonl:2: corrupt predictions line: no 'id'",)),
    "prediction_a_number": Case("evaluate", _pope_with_predictions(b'{"id": "random/2", "prediction": 0}\n'), "error",
                                ("{tmp}/out/predictions.jsonl:2: record 'random/2': corrupt predictions line: 'prediction' must be text, got 0",)),
    "video_start_not_a_number": Case("evaluate", _mvbench_start, "error",
                                     ("action_sequence.json:2: record 'action_sequence/0': field 'start' must be a number, got 'soon'",)),
}

def _pope(*extra: str) -> Callable[[Path, dict], list[str]]:
    def build(tmp: Path, assets: dict) -> list[str]:
        import eval_fixtures as fx

        return [*fx.args(fx.pope(tmp / "data")), "model=unused", *extra]

    return build


EVAL_CASES.update({
    "eval_max_samples_negative": Case("evaluate", _pope("max_samples=-1"), "error", ("max_samples=-1: use at least one",)),
    "eval_batch_size_zero": Case("evaluate", _pope("batch_size=0"), "error", ("batch_size=0: a batch holds at least one item",)),
    "eval_num_frames_and_fps_both_typed": Case("evaluate", _pope("num_frames=8", "fps=2"), "error",
                                               ("num_frames=8 and fps=2 are both set",)),
})

CASES = {**TRAIN_CASES, **GEN_CASES, **EVAL_CASES}


# ---------------------------------------------------------------------------------------------
# running the table


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from gen_fixtures import write_vg

    from mmalign.builtin import build_demo_data, cache_dir, demo_corpus
    from mmalign.tiny import build_tiny_vlm

    root = tmp_path_factory.mktemp("hostile")
    return {
        "demo": build_demo_data(),  # the smoke recipe's own pairs and pictures
        "model": str(build_tiny_vlm("llava", cache_dir() / "tiny-llava", corpus=demo_corpus())),
        "vg": write_vg(root / "vgset"),
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input(name, assets, tmp_path, capsys, caplog, monkeypatch):
    case = CASES[name]

    def reached(*args, **kwargs):
        raise ReachedModelLoading

    monkeypatch.setattr(mmalign.train, "load_model", reached)
    caplog.set_level(logging.INFO)
    argv = case.build(tmp_path, assets)
    capsys.readouterr()
    expect = [fragment.replace("{tmp}", str(tmp_path)) for fragment in case.expect]
    try:
        code = MAINS[case.command](argv)
    except ReachedModelLoading:
        code = None
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith(f"{PROGS[case.command]}: error:")]
    if case.outcome == "error":
        assert code == 2 and len(errors) == 1, err
        for fragment in expect:
            assert fragment in errors[0], errors[0]
        return
    assert not errors, errors
    assert code == (None if case.command == "train" else 0)
    log = "\n".join(r.getMessage() for r in caplog.records)
    for fragment in expect:
        assert fragment in log, log


def test_every_command_has_cases():
    assert {case.command for case in CASES.values()} == set(MAINS)
