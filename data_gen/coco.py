"""COCO's ``instances_*.json`` and ``captions_*.json`` → :class:`~mmalign.data_gen.scene.Scene` per image.

COCO annotates objects (categories with boxes), so its scenes give object, count and location
concepts; captions are context for an LLM-written description. Image paths are the files'
``file_name`` (relative to ``media_root``, e.g. the ``train2014`` folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mmalign.data.jsonio import number, read_json
from mmalign.errors import DataError

from .scene import Scene, SceneObject

Problem = Callable[[str, str], None]


def load_json_document(path: str | Path) -> dict:
    """A whole JSON document that must be an object; errors name the file and line."""
    document = read_json(path, "annotation file")
    if not isinstance(document, dict):
        raise DataError("expected a JSON object at the top level", source=str(path))
    return document


def read_coco(instances: str | Path, captions: str | Path | None, problem: Problem) -> dict[str, Scene]:
    document = load_json_document(instances)
    for key in ("images", "annotations", "categories"):
        if not isinstance(document.get(key), list):
            raise DataError(f"missing list {key!r} of a COCO instances file", source=str(instances))
    categories = {c.get("id"): c.get("name") for c in document["categories"] if isinstance(c, dict)}
    scenes: dict[str, Scene] = {}
    for index, image in enumerate(document["images"]):
        if not isinstance(image, dict) or "id" not in image or not image.get("file_name"):
            problem("invalid_record", f"{instances}: images[{index}] has no id or file_name; skipped")
            continue
        image_id = str(image["id"])
        try:
            width, height = (number(image.get(key) or 0, key) for key in ("width", "height"))
        except ValueError as err:
            problem("invalid_record", f"{instances}: images[{index}]: {err}; skipped")
            continue
        scenes[image_id] = Scene(image_id=image_id, image=str(image["file_name"]), source=f"{instances}: images[{index}]",
                                 width=width, height=height)
    for index, ann in enumerate(document["annotations"]):
        where = f"{instances}: annotations[{index}]"
        scene = scenes.get(str(ann.get("image_id"))) if isinstance(ann, dict) else None
        name = categories.get(ann.get("category_id")) if isinstance(ann, dict) else None
        if scene is None or not name:
            problem("invalid_record", f"{where}: unknown image_id or category_id; skipped")
            continue
        box = ann.get("bbox")
        try:
            box = tuple(number(v, "bbox") for v in box) if isinstance(box, list) and len(box) == 4 else None
        except ValueError as err:
            problem("invalid_record", f"{where}: {err}; skipped")
            continue
        scene.objects.append(SceneObject(name=str(name), box=box))
    if captions:
        doc = load_json_document(captions)
        for index, ann in enumerate(doc.get("annotations") or []):
            scene = scenes.get(str(ann.get("image_id"))) if isinstance(ann, dict) else None
            if scene is None or not str(ann.get("caption", "")).strip():
                problem("invalid_record", f"{captions}: annotations[{index}] has no known image_id or no caption; skipped")
                continue
            scene.captions.append(str(ann["caption"]).strip())
    return scenes
