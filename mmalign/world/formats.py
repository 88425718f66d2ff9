"""The world's scenes as Visual Genome, COCO and LLaVA-conversation records.

Field layouts follow the released files: Visual Genome 1.2/1.4 (``image_data.json``,
``objects.json``, ``attributes.json``, ``relationships.json`` — whose subjects carry ``name`` and
objects ``names``, as in the release; both keys are written on both sides so any reader finds
its own —, ``region_descriptions.json``, ``question_answers.json``) and COCO 2014/2017
(``instances_*.json``, ``captions_*.json``). Every function here is pure: scenes and ids in,
JSON-ready dicts out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .render import object_box
from .scenes import CAPTION_PROMPT, Scene, SceneObject, World
from .vocab import CATEGORIES, GROUPS


@dataclass(frozen=True)
class Placed:
    """A scene with its image id and image path (relative to the world's root)."""

    image_id: int
    image: str
    scene: Scene


class _Ids:
    """Running ids for objects, relationships, regions and questions, unique across a file set."""

    def __init__(self) -> None:
        self.counters = {name: itertools.count(1) for name in ("object", "relationship", "region", "qa")}

    def next(self, name: str) -> int:
        return next(self.counters[name])


def _box(world: World, obj: SceneObject) -> dict[str, int]:
    x, y, w, h = object_box(obj.row, obj.col, obj.size, world.config.cell_px)
    return {"x": x, "y": y, "w": w, "h": h}


def visual_genome(world: World, placed: Iterable[Placed]) -> dict[str, list[dict[str, Any]]]:
    """The six Visual Genome files (name without ``.json`` → list of per-image records)."""
    ids = _Ids()
    files: dict[str, list[dict[str, Any]]] = {
        name: []
        for name in ("image_data", "objects", "attributes", "relationships", "region_descriptions", "question_answers")
    }
    size = world.image_size
    for item in placed:
        image_id, scene = item.image_id, item.scene
        files["image_data"].append(
            {"image_id": image_id, "url": item.image, "width": size, "height": size, "coco_id": image_id, "flickr_id": None}
        )
        entries = [
            {"object_id": ids.next("object"), **_box(world, obj), "names": [obj.category],
             "synsets": [CATEGORIES[obj.category].synset]}
            for obj in scene.objects
        ]
        files["objects"].append({"image_id": image_id, "image_url": item.image, "objects": entries})
        files["attributes"].append(
            {
                "image_id": image_id,
                "attributes": [dict(e, attributes=[o.colour, o.size]) for e, o in zip(entries, scene.objects)],
            }
        )
        relations = []
        for (a, ea), (b, eb) in itertools.permutations(zip(scene.objects, entries), 2):
            predicate = _predicate(a, b)
            if predicate:
                relations.append(
                    {
                        "relationship_id": ids.next("relationship"),
                        "predicate": predicate,
                        "synsets": [],
                        "subject": _endpoint(ea),
                        "object": _endpoint(eb),
                    }
                )
        files["relationships"].append({"image_id": image_id, "relationships": relations})
        # One region per object, and the whole image described by its caption.
        boxes = [(world.region_phrase(o), e["x"], e["y"], e["w"], e["h"]) for o, e in zip(scene.objects, entries)]
        boxes.append((world.caption(scene), 0, 0, size, size))
        regions = [
            {"region_id": ids.next("region"), "image_id": image_id, "phrase": phrase, "x": x, "y": y,
             "width": w, "height": h}
            for phrase, x, y, w, h in boxes
        ]
        files["region_descriptions"].append({"id": image_id, "regions": regions})
        files["question_answers"].append({"id": image_id, "qas": _questions(world, scene, image_id, ids)})
    return files


def _endpoint(entry: dict[str, Any]) -> dict[str, Any]:
    return dict(entry, name=entry["names"][0])


def _predicate(a: SceneObject, b: SceneObject) -> str | None:
    """``a`` is ``left of`` / ``above`` ``b`` when they share a row / column (one direction only)."""
    if a.row == b.row and a.col < b.col:
        return "left of"
    if a.col == b.col and a.row < b.row:
        return "above"
    return None


def _questions(world: World, scene: Scene, image_id: int, ids: _Ids) -> list[dict[str, Any]]:
    """Existence questions: one about a present object (yes) and one about an absent object (no)
    — the group's absent usual member when there is one, else a member of another group."""
    present = sorted(scene.categories)
    absent = list(scene.absent) or sorted(c for c in world.categories if c not in present)
    yes = present[image_id % len(present)]
    no = absent[image_id % len(absent)]
    return [
        {
            "qa_id": ids.next("qa"),
            "image_id": image_id,
            "question": f"Is there a {name} in the image?",
            "answer": answer,
            "q_objects": [],
            "a_objects": [],
        }
        for name, answer in ((yes, "Yes."), (no, "No."))
    ]


def coco_categories() -> list[dict[str, Any]]:
    return [
        {"id": i, "name": name, "supercategory": category.group}
        for i, (name, category) in enumerate(CATEGORIES.items(), start=1)
    ]


def coco_files(world: World, placed: list[Placed], split: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(instances, captions)`` of a split in COCO's layout; ``file_name`` is relative to the
    world's root, like every path the world writes, so one ``media_root`` serves all its files."""
    size = world.image_size
    category_ids = {c["name"]: c["id"] for c in coco_categories()}
    info = {"description": f"mmalign procedural world, split {split}", "version": "1.0", "year": 2025}
    images = [
        {"id": p.image_id, "file_name": p.image, "width": size, "height": size, "license": 0}
        for p in placed
    ]
    annotations, captions = [], []
    for p in placed:
        for obj in p.scene.objects:
            x, y, w, h = object_box(obj.row, obj.col, obj.size, world.config.cell_px)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": p.image_id,
                    "category_id": category_ids[obj.category],
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                }
            )
        captions.append({"id": len(captions) + 1, "image_id": p.image_id, "caption": world.caption(p.scene)})
    licenses = [{"id": 0, "name": "generated", "url": ""}]
    common = {"info": info, "licenses": licenses, "images": images}
    return {**common, "annotations": annotations, "categories": coco_categories()}, {**common, "annotations": captions}


def conversation(world: World, p: Placed, prefix: str) -> dict[str, Any]:
    """A captioning sample in LLaVA's conversation format (``<image>`` placeholder in the question)."""
    return {
        "id": f"{prefix}-{p.image_id}",
        "image": p.image,
        "conversations": [
            {"from": "human", "value": f"<image>\n{CAPTION_PROMPT}"},
            {"from": "gpt", "value": world.caption(p.scene)},
        ],
    }


def selfalign_question(world: World, p: Placed, prefix: str) -> dict[str, Any]:
    """A question for the ``selfalign`` pair pipeline: the caption prompt, the caption as ground
    truth, judged as a list of objects (``answer_type: objects``) against the synonym table."""
    return {"id": f"{prefix}-{p.image_id}", "question": CAPTION_PROMPT, "answer": world.caption(p.scene),
            "image": p.image, "answer_type": "objects"}


def scene_record(world: World, p: Placed, split: str) -> dict[str, Any]:
    """The scene as drawn, with its caption: what a measurement needs to know about an image."""
    return {
        "image_id": p.image_id,
        "image": p.image,
        "split": split,
        "caption": world.caption(p.scene),
        "usual_members": list(GROUPS[p.scene.group][1]),
        **p.scene.to_dict(),
    }


def synonyms_lines(world: World) -> list[str]:
    """The synonym table as text, one category per line, comma-separated, its name first (the
    layout of CHAIR's ``synonyms.txt`` and Visual Genome's ``object_alias.txt``)."""
    return [", ".join(words) for words in world.synonyms().values()]
