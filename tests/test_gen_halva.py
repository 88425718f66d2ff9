"""The halva pipeline on a small hand-made Visual Genome-format set: closed-set candidates worked
out by hand, every replacement checked against the raw annotations, yes/no balance, bad inputs."""

from __future__ import annotations

import json
import logging
import random

import pytest
from gen_fixtures import OBJECTS, QUESTIONS, RELATIONS, WIDTH, write_vg
from PIL import Image

from mmalign.data_gen.concepts import Concept
from mmalign.data_gen.config import GenConfig
from mmalign.data_gen.cooccur import ConceptIndex
from mmalign.data_gen.runner import generate
from mmalign.data_gen.stats import RunStats
from mmalign.data_gen.vg import read_vg
from mmalign.data.readers import read_pairs
from mmalign.data.tags import parse_tags
from mmalign.gen_pairs import main

FILES = ["objects", "attributes", "relationships", "region_descriptions", "question_answers"]


@pytest.fixture(scope="module")
def vg_root(tmp_path_factory):
    return write_vg(tmp_path_factory.mktemp("vgset"))


@pytest.fixture(scope="module")
def index_and_scenes(vg_root):
    scenes = read_vg(vg_root / "vg", FILES, RunStats("halva").problem)
    return ConceptIndex(scenes.values()), scenes


# Worked out by hand from gen_fixtures.OBJECTS / RELATIONS: which images share what, minus what the
# image itself holds (its synonyms and plural forms included).
HAND_CANDIDATES = [
    # horse (image 1) co-occurs with man, hat (image 1) and woman, saddle (image 4)
    ("1", Concept("object", "horse"), {"woman": 1, "saddle": 1}),
    # man (image 1) co-occurs with horse, hat (1), dog, frisbee (2) and bicycle, helmet (8)
    ("1", Concept("object", "man"), {"dog": 1, "frisbee": 1, "bicycle": 1, "helmet": 1}),
    # bicycle: guy (5) and man, helmet (8); "man" is present in image 5 as its synonym "guy" (man.n.01)
    ("5", Concept("object", "bicycle"), {"helmet": 1}),
    # cat: dog (3, written "dogs"), dog and bowl (9); image 3 holds "dogs", the plural of dog
    ("3", Concept("object", "cat"), {"bowl": 1}),
    # dog in image 2: cat (3, 9), bowl (9), man and frisbee (2, present)
    ("2", Concept("object", "dog"), {"cat": 2, "bowl": 1}),
    # frisbee appears only in image 2: nothing co-occurs elsewhere
    ("2", Concept("object", "frisbee"), {}),
    # horses are brown (1) or white (4); image 1 has no white thing
    ("1", Concept("attribute", "brown", "horse"), {"white": 1}),
    # white cat (3): cats elsewhere carry no attribute
    ("3", Concept("attribute", "white", "cat"), {}),
    # man is the subject of riding, wearing (1), throwing (2), wearing (8); wearing is in image 1
    ("1", Concept("relation", "riding", "man"), {"throwing": 1}),
    # two zebras (10); one zebra in image 11
    ("10", Concept("count", "2", "zebra"), {"1": 1}),
    # the horse is centred in image 1 and on the right in image 4
    ("1", Concept("location", "center", "horse"), {"right": 1}),
]


@pytest.mark.parametrize("image_id,concept,expected", HAND_CANDIDATES)
def test_closed_set_candidates_match_the_hand_worked_ones(index_and_scenes, image_id, concept, expected):
    index, scenes = index_and_scenes
    assert index.candidates(concept, index.presence(scenes[image_id])) == expected


def test_sampling_follows_co_occurrence_weights(index_and_scenes):
    index, scenes = index_and_scenes
    presence, rng = index.presence(scenes["2"]), random.Random(0)
    draws = [index.sample(Concept("object", "dog"), presence, rng) for _ in range(3000)]
    assert set(draws) == {"cat", "bowl"}
    assert 0.62 < draws.count("cat") / len(draws) < 0.71  # weights 2:1
    assert index.sample(Concept("object", "frisbee"), presence, rng) is None


# ---- an independent check of every closed-set replacement against the raw annotations ----------


def _singular(name):
    return name.removesuffix("s")


def _names(image):
    return {_singular(o["names"][0]) for o in OBJECTS[image]}


def _present(image, name):
    synonyms = {"man": "man.n.01", "guy": "man.n.01"}
    return name in _names(image) or any(synonyms.get(name) and synonyms.get(n) == synonyms[name] for n in _names(image))


def _position(o):
    return ("left", "center", "right")[min(int(3 * (o["x"] + o["w"] / 2) / WIDTH), 2)]


def _valid(image, chosen, rejected):
    words = {"one": 1, "two": 2, "three": 3}
    if chosen.split()[0] in ("a", "an"):  # object
        c, r = chosen.split(" ", 1)[1], rejected.split(" ", 1)[1]
        return any(c in _names(j) and r in _names(j) for j in OBJECTS) and not _present(image, r)
    if chosen.split()[0] in words:  # count
        noun = _singular(chosen.split()[1])
        n_here = sum(_singular(o["names"][0]) == noun for o in OBJECTS[image])
        n_new = words[rejected.split()[0]]
        return n_here != n_new and any(sum(_singular(o["names"][0]) == noun for o in objs) == n_new for objs in OBJECTS.values())
    if chosen in ("left side", "center", "right side"):  # location of an object seen there elsewhere
        here = {(_singular(o["names"][0]), _position(o)) for o in OBJECTS[image]}
        anchor = [n for n, p in here if p == chosen.split()[0]]
        r = rejected.split()[0]
        return any((_singular(o["names"][0]), _position(o)) == (a, r) for a in anchor for objs in OBJECTS.values() for o in objs) \
            and all((a, r) not in here for a in anchor)
    predicates = {r["predicate"]: r["subject"]["name"] for r in RELATIONS.get(image, [])}
    if chosen in predicates:  # relation: the same subject does it elsewhere
        return any(r["predicate"] == rejected and r["subject"]["name"] == predicates[chosen]
                   for rels in RELATIONS.values() for r in rels) and rejected not in predicates
    here = {a for o in OBJECTS[image] for a in o.get("attributes", [])}  # attribute of the same object elsewhere
    owners = {o["names"][0] for o in OBJECTS[image] if chosen in o.get("attributes", [])}
    return rejected not in here and any(o["names"][0] in owners and rejected in o.get("attributes", [])
                                        for objs in OBJECTS.values() for o in objs)


def _config(vg_root, out, **extra):
    values = {"pipeline": "halva", "vg_dir": str(vg_root / "vg"), "vg_files": FILES, "output_file": str(out),
              "media_root": str(vg_root / "images"), "llm": "none", "progress": False, "seed": 3}
    values.update(extra)
    return GenConfig(**values)


def test_every_closed_replacement_co_occurs_and_is_absent(vg_root, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="mmalign.data_gen")
    out = tmp_path / "pairs.jsonl"
    stats = generate(_config(vg_root, out))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    closed = [r for r in records if r["kind"] == "closed"]
    assert {r["id"] for r in closed} >= {"vg-1-closed", "vg-2-closed", "vg-3-closed", "vg-5-closed", "vg-10-closed"}
    checked = 0
    for r in closed:
        image = int(r["id"].split("-")[1])
        chosen_text, chosen_spans = parse_tags(r["chosen"])
        rejected_text, rejected_spans = parse_tags(r["rejected"])
        assert len(chosen_spans) == len(rejected_spans) > 0
        for (cs, ce), (rs, re_) in zip(chosen_spans, rejected_spans):
            assert _valid(image, chosen_text[cs:ce], rejected_text[rs:re_]), (r["id"], chosen_text[cs:ce], rejected_text[rs:re_])
            checked += 1
    assert checked >= 8
    assert len(read_pairs(out)) == len(records)  # the training reader takes the file as it is
    # image 6 has no objects, image 7 no readable file: skipped, counted, one line each
    assert stats.rejected["no_ground_truth"] == 1 and stats.rejected["unreadable_media"] == 1
    lines = [r.getMessage() for r in caplog.records]
    assert any("image_data.json:1: record 'vg-6': no objects annotated" in m for m in lines)
    assert any("record 'vg-7': cannot read image" in m and "7.jpg" in m for m in lines)
    saved = json.loads((tmp_path / "pairs.stats.json").read_text())
    assert saved["accepted"] == dict(stats.accepted) and saved["rejected"]["unreadable_media"] == 1


def test_yes_no_pairs_are_balanced_and_inverted(vg_root, tmp_path):
    out = tmp_path / "qa.jsonl"
    generate(_config(vg_root, out, kinds=["qa"]))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    truth = {q: a.lower().strip(".") for qs in QUESTIONS.values() for q, a in qs}
    yes = [r for r in records if r["chosen"] == "<MASK>Yes</MASK>."]
    no = [r for r in records if r["chosen"] == "<MASK>No</MASK>."]
    assert len(yes) == len(no) == 2 and len(records) == 4  # 3 yes and 2 no questions: 2 of each kept
    for r in records:
        assert r["kind"] == "qa" and truth[r["prompt"]] == parse_tags(r["chosen"])[0].strip(".").lower()
        assert r["rejected"] == ("<MASK>No</MASK>." if r in yes else "<MASK>Yes</MASK>.")


def test_the_same_seed_writes_the_same_bytes(vg_root, tmp_path):
    generate(_config(vg_root, tmp_path / "a.jsonl"))
    generate(_config(vg_root, tmp_path / "b.jsonl"))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_missing_annotation_file_stops_before_writing(vg_root, tmp_path, capsys):
    broken = tmp_path / "vg"
    broken.mkdir()
    for f in (vg_root / "vg").iterdir():
        if f.name != "relationships.json":
            (broken / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out" / "pairs.jsonl"
    code = main(["pipeline=halva", f"vg_dir={broken}", f"media_root={vg_root / 'images'}", f"output_file={out}", "progress=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "annotation file not found" in err[0] and str(broken / "relationships.json") in err[0]
    assert not out.exists()


def test_malformed_annotation_file_names_file_and_line(vg_root, tmp_path, capsys):
    broken = tmp_path / "vg"
    broken.mkdir()
    for f in (vg_root / "vg").iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "objects.json").write_text('[{"image_id": 1, "objects": []},\n{"image_id": 2, "objects": [}]')
    out = tmp_path / "pairs.jsonl"
    code = main(["pipeline=halva", f"vg_dir={broken}", f"output_file={out}", "progress=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{broken / 'objects.json'}:2: invalid JSON" in err[0]
    assert not out.exists()


def test_a_bad_record_is_reported_and_the_run_goes_on(vg_root, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="mmalign.data_gen")
    broken = tmp_path / "vg"
    broken.mkdir()
    for f in (vg_root / "vg").iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    objects = json.loads((broken / "objects.json").read_text())
    objects[0]["objects"][0]["names"] = []  # image 1's first object has no name
    (broken / "objects.json").write_text(json.dumps(objects))
    stats = generate(_config(vg_root, tmp_path / "pairs.jsonl", vg_dir=str(broken)))
    assert stats.input_problems["invalid_record"] == 1
    assert any("objects.json:1: record '1': object 11 has no name; record skipped" in r.getMessage() for r in caplog.records)
    assert stats.accepted["closed"] >= 5


def test_coco_instances_and_captions(tmp_path):
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": 300, "height": 200} for i in (1, 2, 3)]
    categories = [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "kite"}]
    # image 1: person, dog; image 2: person, kite, kite; image 3: dog
    anns = [(1, 1), (1, 2), (2, 1), (2, 3), (2, 3), (3, 2)]
    instances = {"images": images, "categories": categories,
                 "annotations": [{"id": k, "image_id": i, "category_id": c, "bbox": [10, 10, 20, 20]} for k, (i, c) in enumerate(anns)]}
    (tmp_path / "instances.json").write_text(json.dumps(instances, indent=1))
    (tmp_path / "captions.json").write_text(json.dumps({"annotations": [{"image_id": 1, "caption": "A man with a dog."}]}))
    for image in images:
        Image.new("RGB", (30, 20)).save(tmp_path / image["file_name"])
    out = tmp_path / "coco.jsonl"
    generate(GenConfig(pipeline="halva", coco_instances=str(tmp_path / "instances.json"),
                       coco_captions=str(tmp_path / "captions.json"), media_root=str(tmp_path),
                       output_file=str(out), progress=False, kinds=["closed"]))
    pairs = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    # dog (image 1) co-occurs only with person, present: untouched; person co-occurs with kite (image 2)
    assert pairs["coco-1-closed"]["chosen"].startswith("The image shows <MASK>a person</MASK> and a dog.")
    assert pairs["coco-1-closed"]["rejected"].startswith("The image shows <MASK>a kite</MASK> and a dog.")
    # two kites (image 2): no other count of kites anywhere; person: dog (image 1) absent here
    assert "<MASK>a dog</MASK>" in pairs["coco-2-closed"]["rejected"] and "two kites" in pairs["coco-2-closed"]["chosen"]
    assert pairs["coco-1-closed"]["source"] == "coco" and pairs["coco-1-closed"]["images"] == ["000000000001.jpg"]


def _kitchen_coco(tmp_path, captions):
    """Images 1–3: cup, plate, fork, bowl; 4: the bowl missing; 5: a pen instead of the bowl."""
    names = ["cup", "plate", "fork", "bowl", "pen"]
    contents = {1: [0, 1, 2, 3], 2: [0, 1, 2, 3], 3: [0, 1, 2, 3], 4: [0, 1, 2], 5: [0, 1, 2, 4]}
    images = [{"id": i, "file_name": f"{i}.png", "width": 30, "height": 30} for i in contents]
    anns = [{"id": 10 * i + c, "image_id": i, "category_id": c + 1, "bbox": [1, 1, 5, 5]} for i, cs in contents.items() for c in cs]
    instances = {"images": images, "annotations": anns, "categories": [{"id": k + 1, "name": n} for k, n in enumerate(names)]}
    (tmp_path / "instances.json").write_text(json.dumps(instances, indent=1))
    (tmp_path / "captions.json").write_text(json.dumps({"annotations": [{"image_id": i, "caption": c} for i, c in captions.items()]}))
    for image in images:
        Image.new("RGB", (30, 30)).save(tmp_path / image["file_name"])


def test_caption_segments_tag_annotated_mentions_only():
    from mmalign.data_gen.captions import caption_segments, mention_as
    from mmalign.data_gen.scene import Scene, SceneObject

    scene = Scene("1", "1.png", "test", objects=[SceneObject("cup"), SceneObject("plate"), SceneObject("plate")])
    index = ConceptIndex([scene])
    # "table" is not annotated, "cup-holder" is one word: both stay plain text
    segments = caption_segments("A cup and two plates on a table, a cup-holder, the cup.", index, index.presence(scene))
    assert segments == [Concept("object", "cup", "", "A cup"), " and two ", Concept("object", "plate", "", "plates"),
                        " on a table, a cup-holder, ", Concept("object", "cup", "", "the cup"), "."]
    assert [mention_as("A cup", "apple"), mention_as("plates", "fork"), mention_as("the cup", "bowl")] == ["An apple", "forks", "the bowl"]


def test_caption_kind_swaps_a_mention_for_the_absent_co_occurring_object(tmp_path):
    captions = {i: "A cup, a plate and a fork." for i in (1, 2, 3, 4)} | {5: "A cup, a plate, a fork and a pen."}
    _kitchen_coco(tmp_path, captions)
    out = tmp_path / "pairs.jsonl"
    config = dict(pipeline="halva", coco_instances=str(tmp_path / "instances.json"), coco_captions=str(tmp_path / "captions.json"),
                  media_root=str(tmp_path), progress=False, kinds=["caption"], min_cooccurrence=2, prompts=["Describe the image."])
    stats = generate(GenConfig(output_file=str(out), **config))
    pairs = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    # bowl co-occurs with cup, plate and fork 3 times (kept at min 2); pen once (dropped). Images 1–3
    # hold everything that co-occurs twice, so they give no pair.
    assert sorted(pairs) == ["coco-4-caption", "coco-5-caption"]
    assert stats.rejected == {"no_caption_candidate": 3}
    for image_id, caption in ((4, captions[4]), (5, captions[5])):
        pair = pairs[f"coco-{image_id}-caption"]
        (chosen_text, chosen_spans), (rejected_text, rejected_spans) = parse_tags(pair["chosen"]), parse_tags(pair["rejected"])
        assert chosen_text == caption and len(chosen_spans) == len(rejected_spans) == 1
        (start, end), (r_start, r_end) = chosen_spans[0], rejected_spans[0]
        assert chosen_text[start:end].lower() in ("a cup", "a plate", "a fork")  # never the pen
        assert rejected_text[r_start:r_end].lower() == "a bowl"
        assert rejected_text == caption[:start] + rejected_text[r_start:r_end] + caption[end:]
        assert pair["kind"] == "caption" and pair["prompt"] == "Describe the image." and pair["images"] == [f"{image_id}.png"]
    generate(GenConfig(output_file=str(tmp_path / "two.jsonl"), caption_replacements=2, **config))
    two = {r["id"]: r for r in map(json.loads, (tmp_path / "two.jsonl").read_text().splitlines())}
    assert two["coco-4-caption"]["rejected"].count("<MASK>a bowl</MASK>") == 2
    assert parse_tags(two["coco-4-caption"]["chosen"])[0] == captions[4]


def test_caption_kind_needs_captions(tmp_path, capsys):
    _kitchen_coco(tmp_path, {1: "A cup."})
    code = main([f"coco_instances={tmp_path / 'instances.json'}", "pipeline=halva", "kinds=[caption]",
                 f"output_file={tmp_path / 'p.jsonl'}", f"media_root={tmp_path}"])
    assert code == 2 and "kind 'caption' needs reference captions: set coco_captions=FILE" in capsys.readouterr().err


def _problems():
    found: list[str] = []
    return found, lambda reason, message: found.append(f"{reason}: {message}")


def _tiny_vg(root, image=None, objects=None, attributes=None):
    root.mkdir(exist_ok=True)
    files = {
        "image_data": [image or {"image_id": 1, "url": "http://x/VG_100K/1.jpg", "width": 800, "height": 600}],
        "objects": [{"image_id": 1, "objects": objects or [{"object_id": 5, "names": ["dog"], "x": 1, "y": 2, "w": 3, "h": 4}]}],
        "attributes": [{"image_id": 1, "attributes": attributes or [{"object_id": 5, "names": ["dog"], "attributes": ["brown"]}]}],
    }
    for name, records in files.items():
        (root / f"{name}.json").write_text(json.dumps(records))
    return root


def test_vg_strings_where_lists_are_expected_are_reported_not_split_into_letters(tmp_path):
    found, problem = _problems()
    root = _tiny_vg(tmp_path / "names", objects=[{"object_id": 5, "names": "dog"}])
    scenes = read_vg(root, ["objects"], problem)
    assert scenes["1"].objects == [] and len(found) == 1
    assert "objects.json:1: record '1': object 5: 'names' must be a list of names, got 'dog'; record skipped" in found[0]

    found, problem = _problems()
    root = _tiny_vg(tmp_path / "attrs", attributes=[{"object_id": 5, "names": ["dog"], "attributes": "brown"}])
    scenes = read_vg(root, ["objects", "attributes"], problem)
    assert [o.attributes for o in scenes["1"].objects] == [[]] and len(found) == 1
    assert "'attributes' must be a list, got 'brown'" in found[0]


def test_vg_width_or_box_that_is_not_a_number_is_reported(tmp_path):
    found, problem = _problems()
    root = _tiny_vg(tmp_path / "w", image={"image_id": 1, "url": "http://x/VG_100K/1.jpg", "width": "wide", "height": 600})
    assert read_vg(root, [], problem) == {}
    assert len(found) == 1 and "image_data.json:1: record '1': field 'width' must be a number, got 'wide'" in found[0]
    found, problem = _problems()
    root = _tiny_vg(tmp_path / "box", objects=[{"object_id": 5, "names": ["dog"], "x": "left", "y": 2, "w": 3, "h": 4}])
    assert read_vg(root, ["objects"], problem)["1"].objects == []
    assert len(found) == 1 and "field 'x' must be a number, got 'left'" in found[0]


def test_coco_bbox_or_size_that_is_not_a_number_is_reported(tmp_path):
    from mmalign.data_gen.coco import read_coco

    images = [{"id": 1, "file_name": "1.jpg", "width": 30, "height": 20}, {"id": 2, "file_name": "2.jpg", "width": "big", "height": 20}]
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": ["ten", 0, 5, 5]}, {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]
    (tmp_path / "instances.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "dog"}]}))
    found, problem = _problems()
    scenes = read_coco(tmp_path / "instances.json", None, problem)
    assert list(scenes) == ["1"] and [o.box for o in scenes["1"].objects] == [(1.0, 1.0, 5.0, 5.0)]
    assert any("images[1]: field 'width' must be a number, got 'big'; skipped" in f for f in found)
    assert any("annotations[0]: field 'bbox' must be a number, got 'ten'; skipped" in f for f in found)
