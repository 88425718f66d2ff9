"""Tests of mmalign.world: determinism, the Visual Genome and COCO files, the co-occurrence bias."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmalign.world import GROUPS, World, WorldConfig, write_world
from mmalign.world.render import object_box
from mmalign.world.vocab import BACKGROUND

UNUSUAL_SHARE = 0.25
COUNTS = {"num_train": 1200, "num_reference": 40, "num_heldout_usual": 60, "num_heldout_unusual": 60}


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("world") / "w"
    return write_world(root, seed=3, config=WorldConfig(unusual_share=UNUSUAL_SHARE), **COUNTS)


def load(path: Path):
    return json.loads(path.read_text())


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_world_other_seed_other_world(tmp_path):
    small = {"num_train": 30, "num_reference": 5, "num_heldout_usual": 5, "num_heldout_unusual": 5}
    a = write_world(tmp_path / "a", seed=7, **small)
    b = write_world(tmp_path / "b", seed=7, **small)
    c = write_world(tmp_path / "c", seed=8, **small)
    files_a, files_b = all_files(a.root), all_files(b.root)
    assert files_a == files_b and len(files_a) > 40 + 10
    assert all_files(c.root)["captions_train.jsonl"] != files_a["captions_train.jsonl"]
    # In memory too: the same seeded stream gives the same scenes and pixels.
    s1, s2 = World(7).scenes("x", 20), World(7).scenes("x", 20)
    assert s1 == s2
    assert all(np.array_equal(np.asarray(World(7).render(p)), np.asarray(World(7).render(q))) for p, q in zip(s1, s2))
    # A longer list starts with the shorter one, so growing a split keeps its first scenes.
    assert World(7).scenes("x", 25)[:20] == s1


def test_written_world_is_reused_and_foreign_folders_refused(tmp_path):
    small = {"num_train": 10, "num_reference": 2, "num_heldout_usual": 2, "num_heldout_unusual": 2}
    paths = write_world(tmp_path / "w", seed=1, **small)
    stamp = paths.train_captions.stat().st_mtime_ns
    assert write_world(tmp_path / "w", seed=1, **small).train_captions.stat().st_mtime_ns == stamp
    assert paths.manifest()["seed"] == 1
    write_world(tmp_path / "w", seed=2, **small)  # other settings: rebuilt in place
    assert paths.manifest()["seed"] == 2
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(FileExistsError):
        write_world(tmp_path / "mine", seed=1, **small)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_visual_genome_files_have_the_release_layout_and_consistent_ids(world_dir):
    vg = world_dir.vg_dir
    image_data = load(vg / "image_data.json")
    assert len(image_data) == COUNTS["num_train"]
    sizes = {}
    for record in image_data:
        assert set(record) == {"image_id", "url", "width", "height", "coco_id", "flickr_id"}
        with Image.open(world_dir.root / record["url"]) as image:
            assert image.size == (record["width"], record["height"]) and image.mode == "RGB"
        sizes[record["image_id"]] = (record["width"], record["height"])

    objects, seen_ids = {}, set()
    for record in load(vg / "objects.json"):
        assert set(record) >= {"image_id", "objects"} and record["image_id"] in sizes
        width, height = sizes[record["image_id"]]
        for obj in record["objects"]:
            assert set(obj) == {"object_id", "x", "y", "w", "h", "names", "synsets"}
            assert obj["object_id"] not in seen_ids  # unique over the whole file, as in the release
            seen_ids.add(obj["object_id"])
            assert isinstance(obj["names"], list) and len(obj["names"]) == 1 and obj["synsets"] == [f"{obj['names'][0]}.n.01"]
            assert 0 <= obj["x"] and obj["x"] + obj["w"] <= width and 0 <= obj["y"] and obj["y"] + obj["h"] <= height
            objects[obj["object_id"]] = (record["image_id"], obj)

    for record in load(vg / "attributes.json"):
        for entry in record["attributes"]:
            image_id, obj = objects[entry["object_id"]]
            assert image_id == record["image_id"] and entry["names"] == obj["names"]
            colour, size = entry["attributes"]
            assert size in ("small", "large") and colour.isalpha()

    predicates = Counter()
    for record in load(vg / "relationships.json"):
        for rel in record["relationships"]:
            assert set(rel) == {"relationship_id", "predicate", "synsets", "subject", "object"}
            for end in (rel["subject"], rel["object"]):
                image_id, obj = objects[end["object_id"]]
                assert image_id == record["image_id"]
                assert end["name"] == end["names"][0] == obj["names"][0]
            predicates[rel["predicate"]] += 1
            subject, target = rel["subject"], rel["object"]
            if rel["predicate"] == "left of":  # same row, subject further left
                assert subject["y"] // 8 == target["y"] // 8 and subject["x"] < target["x"]
            else:
                assert rel["predicate"] == "above"
                assert subject["x"] // 8 == target["x"] // 8 and subject["y"] < target["y"]
    assert predicates["left of"] > 100 and predicates["above"] > 100

    by_image = {}
    for image_id, obj in objects.values():
        by_image.setdefault(image_id, []).append(obj["names"][0])
    for record in load(vg / "region_descriptions.json"):
        assert set(record) == {"id", "regions"}
        for region in record["regions"]:
            assert set(region) == {"region_id", "image_id", "phrase", "x", "y", "width", "height"}
            assert region["image_id"] == record["id"]
            named = [w for w in re.findall(r"[a-z]+", region["phrase"]) if w in by_image[record["id"]]]
            assert named  # every phrase names an object of its image
    for record in load(vg / "question_answers.json"):
        answers = {}
        for qa in record["qas"]:
            assert set(qa) >= {"qa_id", "image_id", "question", "answer"} and qa["image_id"] == record["id"]
            name = re.match(r"Is there a (\w+) in the image\?", qa["question"]).group(1)
            answers[qa["answer"]] = name in by_image[record["id"]]
        assert answers == {"Yes.": True, "No.": False}


def test_visual_genome_files_read_with_the_pair_pipeline_reader(world_dir):
    from mmalign.data_gen.vg import read_vg

    problems = []
    scenes = read_vg(world_dir.vg_dir, ["objects", "attributes", "relationships", "region_descriptions"],
                     lambda kind, message: problems.append(message))
    assert problems == []
    assert len(scenes) == COUNTS["num_train"]
    first = scenes["1"]
    assert (world_dir.root / first.image).is_file()
    assert all(obj.attributes for obj in first.objects) and first.regions


def test_coco_files_are_consistent(world_dir):
    for split, count in (("train", 1200), ("reference", 40), ("heldout_usual", 60), ("heldout_unusual", 60)):
        instances, captions = load(world_dir.instances(split)), load(world_dir.coco_captions(split))
        assert set(instances) >= {"images", "annotations", "categories"}
        categories = {c["id"]: c for c in instances["categories"]}
        assert sorted(c["name"] for c in categories.values()) == sorted(m for _, ms in GROUPS.values() for m in ms)
        assert all(categories[i]["name"] in GROUPS[categories[i]["supercategory"]][1] for i in categories)
        images = {im["id"]: im for im in instances["images"]}
        assert len(images) == count and len(captions["annotations"]) == count
        assert (world_dir.root / images[min(images)]["file_name"]).is_file()
        ann_ids = [a["id"] for a in instances["annotations"]]
        assert len(set(ann_ids)) == len(ann_ids)
        per_image = Counter()
        for ann in instances["annotations"]:
            image = images[ann["image_id"]]
            assert ann["category_id"] in categories and ann["iscrowd"] == 0
            x, y, w, h = ann["bbox"]
            assert 0 <= x and x + w <= image["width"] and 0 <= y and y + h <= image["height"] and ann["area"] == w * h
            per_image[ann["image_id"]] += 1
        assert set(per_image) == set(images) and all(3 <= n <= 4 for n in per_image.values())
        for cap in captions["annotations"]:
            assert cap["image_id"] in images
            # every annotated category of the image is named in its caption
            names = {categories[a["category_id"]]["name"] for a in instances["annotations"] if a["image_id"] == cap["image_id"]}
            assert names <= set(re.findall(r"[a-z]+", cap["caption"]))


def test_cooccurrence_bias_matches_the_configured_strength(world_dir):
    groups = {name: set(members) for name, (_, members) in GROUPS.items()}
    present = [{o["names"][0] for o in r["objects"]} for r in load(world_dir.vg_dir / "objects.json")]
    n = len(present)
    complete = sum(any(names == g for g in groups.values()) for names in present) / n
    # Usual scenes show exactly one whole group; binomial standard error ~0.013 at n=1200.
    assert complete == pytest.approx(1 - UNUSUAL_SHARE, abs=0.04)
    # P(b present | a present) for two members of one group, worked out by hand. A scene is of a's
    # group with probability 1/4: usual ones hold both; an unusual one drops one of the 4 members at
    # random (a kept: 3/4, both kept: 2/4). A swapped scene (share s = 1/2 of the unusual ones) of
    # one of the 3 other groups takes a as its intruder with probability 1/12, without b.
    u, s = UNUSUAL_SHARE, 0.5
    both = ((1 - u) + u * 2 / 4) / 4
    with_a = ((1 - u) + u * 3 / 4) / 4 + u * s * (3 / 4) * (1 / 12)
    expected = both / with_a
    same, cross = [], []
    for members in groups.values():
        for a, b in itertools.permutations(members, 2):
            with_a = [names for names in present if a in names]
            same.append(sum(b in names for names in with_a) / len(with_a))
            others = [c for g in groups.values() if g is not members for c in g]
            cross += [sum(c in names for names in with_a) / len(with_a) for c in others]
    assert np.mean(same) == pytest.approx(expected, abs=0.02)
    assert np.mean(cross) < 0.02  # another group's member only comes with a swap (u/2 · 1/12)


def test_synonyms_cover_every_category(world_dir):
    world = World(0)
    table = world.synonyms()
    instances = load(world_dir.instances("train"))
    assert set(table) == {c["name"] for c in instances["categories"]}
    words = Counter(w for ws in table.values() for w in ws)
    assert all(n == 1 for n in words.values())  # no word names two categories
    for name, forms in table.items():
        assert name in forms and any(f != name and f.startswith(name[:3]) and f.endswith("s") for f in forms)
    assert load(world_dir.synonyms) == table
    lines = world_dir.synonyms_txt.read_text().splitlines()
    assert {line.split(", ")[0]: line.split(", ") for line in lines} == table


def test_unusual_scenes_are_unusual_and_usual_ones_complete(world_dir):
    groups = {name: set(members) for name, (_, members) in GROUPS.items()}
    usual, unusual = jsonl(world_dir.scenes("heldout_usual")), jsonl(world_dir.scenes("heldout_unusual"))
    assert {s["kind"] for s in usual} == {"usual"} and {s["kind"] for s in unusual} == {"missing", "swapped"}
    for scene in usual:
        assert {o["category"] for o in scene["objects"]} == groups[scene["group"]] and scene["absent"] == []
    for scene in unusual:
        names = {o["category"] for o in scene["objects"]}
        assert names not in groups.values()
        assert len(scene["absent"]) == 1 and scene["absent"][0] in groups[scene["group"]] - names
        intruders = names - groups[scene["group"]]
        assert len(intruders) == (1 if scene["kind"] == "swapped" else 0)
        assert len(names & groups[scene["group"]]) == 3  # the group is still the one the scene shows most
    # The COCO ground truth of held-out unusual images agrees with the scene records.
    instances = load(world_dir.instances("heldout_unusual"))
    categories = {c["id"]: c["name"] for c in instances["categories"]}
    truth = {}
    for ann in instances["annotations"]:
        truth.setdefault(ann["image_id"], set()).add(categories[ann["category_id"]])
    assert all(truth[s["image_id"]] == {o["category"] for o in s["objects"]} for s in unusual)


def test_objects_are_drawn_in_their_cells_and_nowhere_else(world_dir):
    world = World(3, WorldConfig(unusual_share=UNUSUAL_SHARE))
    cell = world.config.cell_px
    for record in jsonl(world_dir.scenes("heldout_unusual"))[:20]:
        pixels = np.asarray(Image.open(world_dir.root / record["image"]).convert("RGB")).astype(int)
        background = np.all(pixels == np.array(BACKGROUND), axis=-1)
        occupied = {(o["row"], o["col"]): o for o in record["objects"]}
        for row, col in itertools.product(range(world.config.grid), repeat=2):
            block = background[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell]
            if (row, col) not in occupied:
                assert block.all()
                continue
            obj = occupied[(row, col)]
            x, y, w, h = object_box(row, col, obj["size"], cell)
            inside = ~background[y : y + h, x : x + w]
            assert inside.sum() >= 4 and (~block).sum() == inside.sum()  # all ink lies in the object's box


def test_training_captions_and_references_read_as_conversations(world_dir):
    from mmalign.data.readers import read_conversations

    captions = read_conversations(world_dir.train_captions)
    refs = read_conversations(world_dir.references)
    assert len(captions) == COUNTS["num_train"] and len(refs) == COUNTS["num_reference"]
    assert all((world_dir.root / c.images[0]).is_file() for c in captions[:10])
    first = jsonl(world_dir.scenes("train"))[0]
    assert captions[0].turns[-1] == ("assistant", first["caption"])
    assert not {c.images[0] for c in refs} & {c.images[0] for c in captions}
    heldout = read_conversations(world_dir.heldout_captions)
    scenes = jsonl(world_dir.scenes("heldout_usual")) + jsonl(world_dir.scenes("heldout_unusual"))
    assert [(c.images[0], c.turns[-1]) for c in heldout] == [(s["image"], ("assistant", s["caption"])) for s in scenes]


def test_selfalign_questions_ask_for_the_caption_of_every_training_scene(world_dir):
    questions, scenes = jsonl(world_dir.selfalign_questions), jsonl(world_dir.scenes("train"))
    assert len(questions) == len(scenes) == COUNTS["num_train"]
    for question, scene in zip(questions, scenes):
        assert question == {"id": f"train-{scene['image_id']}", "question": "Describe the image.",
                            "answer": scene["caption"], "image": scene["image"], "answer_type": "objects"}
    assert (world_dir.root / questions[0]["image"]).is_file()


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="caption_order"):
        WorldConfig(caption_order="sideways")
    with pytest.raises(ValueError, match="unusual_share"):
        WorldConfig(unusual_share=1.5)
    with pytest.raises(ValueError, match="kind"):
        World(0).sample_scene(World(0).rng("x"), kind="strange")
