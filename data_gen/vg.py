"""Visual Genome's official JSON files → :class:`~mmalign.data_gen.scene.Scene` per image.

``image_data.json`` is always read (image ids, sizes, file paths); the others are read when listed
(``objects``, ``attributes``, ``relationships``, ``region_descriptions``; ``question_answers`` is
read by :mod:`mmalign.data_gen.qa`). A listed file that is missing or not valid JSON stops the run before
anything is written; a record that cannot be used is reported in one line and skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

from mmalign.data.jsonio import iter_json_records, number
from mmalign.errors import DataError

from .scene import Relation, Scene, SceneObject

VG_FILES = ("objects", "attributes", "relationships", "region_descriptions", "question_answers")
Problem = Callable[[str, str], None]


def vg_file(vg_dir: str | Path, name: str) -> Path:
    path = Path(vg_dir).expanduser() / f"{name}.json"
    if not path.is_file():
        raise DataError(f"Visual Genome annotation file not found: {path}")
    return path


def iter_vg(vg_dir: str | Path, name: str, problem: Problem) -> Iterator[tuple[str, str, dict]]:
    """``(image_id, source, record)`` of a per-image VG file; records without an image id are reported."""
    path = vg_file(vg_dir, name)
    for index, (lineno, record) in enumerate(iter_json_records(path)):
        source = f"{path}:{lineno}"
        image_id = record.get("image_id", record.get("id"))
        if image_id is None:
            problem("invalid_record", str(DataError(f"record {index} has no image_id; skipped", source=source)))
            continue
        yield str(image_id), source, record


def image_path(record: dict) -> str:
    """``VG_100K_2/1.jpg`` from the record's URL (the layout of the official image archives)."""
    url = record.get("url") or record.get("image_url")
    if url:
        parts = urlparse(str(url)).path.rstrip("/").split("/")
        return "/".join(parts[-2:]) if len(parts) >= 2 and parts[-2] else parts[-1]
    return f"{record.get('image_id', record.get('id'))}.jpg"


def read_vg(vg_dir: str | Path, files: list[str], problem: Problem) -> dict[str, Scene]:
    """Scenes of every image of ``image_data.json``, filled from the listed annotation files."""
    unknown = sorted(set(files) - set(VG_FILES))
    if unknown:
        raise DataError(f"unknown Visual Genome file(s) {unknown}; expected some of {', '.join(VG_FILES)}")
    for name in files:  # all missing files are reported before any long read
        vg_file(vg_dir, name)
    scenes: dict[str, Scene] = {}
    for image_id, source, record in iter_vg(vg_dir, "image_data", problem):
        try:
            width, height = (number(record.get(key) or 0, key) for key in ("width", "height"))
        except ValueError as err:
            problem("invalid_record", str(DataError(f"{err}; image skipped", source=source, record_id=image_id)))
            continue
        scenes[image_id] = Scene(image_id=image_id, image=image_path(record), source=source, width=width, height=height)
    readers = {"objects": _add_objects, "attributes": _add_attributes, "relationships": _add_relations,
               "region_descriptions": _add_regions}
    object_ids: dict[str, dict] = {}  # image id → VG object id → object, to attach attributes
    for name in files:
        if name not in readers:
            continue
        for image_id, source, record in iter_vg(vg_dir, name, problem):
            scene = scenes.get(image_id)
            if scene is None:
                problem("unknown_image", str(DataError("image id not in image_data.json; skipped", source=source, record_id=image_id)))
                continue
            try:
                readers[name](scene, record, object_ids.setdefault(image_id, {}))
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                reason = f"missing field {err.args[0]!r}" if isinstance(err, KeyError) else str(err)
                problem("invalid_record", str(DataError(f"{reason}; record skipped", source=source, record_id=image_id)))
    return scenes


def _name(entry: dict) -> str:
    names = entry.get("names") or ([entry["name"]] if entry.get("name") else [])
    if not isinstance(names, list):
        raise ValueError(f"object {entry.get('object_id', '?')}: 'names' must be a list of names, got {names!r}")
    if not names or not isinstance(names[0], str) or not names[0].strip():
        raise ValueError(f"object {entry.get('object_id', '?')} has no name")
    return names[0].strip()


def _box(entry: dict) -> tuple[float, float, float, float] | None:
    if all(k in entry for k in "xywh"):
        x, y, w, h = (number(entry[k], k) for k in "xywh")
        return x, y, w, h
    return None


def _object(entry: dict) -> SceneObject:
    synsets = entry.get("synsets") or ()
    return SceneObject(name=_name(entry), box=_box(entry), synsets=tuple(synsets))


def _add_objects(scene: Scene, record: dict, ids: dict) -> None:
    entries = record["objects"]
    objects = [_object(e) for e in entries]  # all validated before the scene changes
    scene.objects.extend(objects)
    for entry, obj in zip(entries, objects):
        if "object_id" in entry:
            ids[entry["object_id"]] = obj


def _add_attributes(scene: Scene, record: dict, ids: dict) -> None:
    updates = []  # all validated before the scene changes
    for entry in record["attributes"]:
        attributes = entry.get("attributes") or []
        if not isinstance(attributes, list):
            raise ValueError(f"object {entry.get('object_id', '?')}: 'attributes' must be a list, got {attributes!r}")
        attributes = [str(a).strip() for a in attributes if str(a).strip()]
        known = ids.get(entry.get("object_id"))
        updates.append((entry, attributes, known, _object(entry) if known is None else None))
    for entry, attributes, known, new in updates:
        obj = known or new
        if new is not None:
            scene.objects.append(new)
            if "object_id" in entry:
                ids[entry["object_id"]] = new
        obj.attributes.extend(a for a in attributes if a not in obj.attributes)


def _add_relations(scene: Scene, record: dict, ids: dict) -> None:
    relations = []
    for entry in record["relationships"]:
        predicate = str(entry["predicate"]).strip()
        if not predicate:
            raise ValueError(f"relationship {entry.get('relationship_id', '?')} has no predicate")
        relations.append(Relation(_name(entry["subject"]), predicate.lower(), _name(entry["object"])))
    scene.relations.extend(relations)


def _add_regions(scene: Scene, record: dict, ids: dict) -> None:
    scene.regions.extend(str(r["phrase"]).strip() for r in record["regions"] if str(r.get("phrase", "")).strip())
