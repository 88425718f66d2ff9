"""CHAIR (Rohrbach et al., "Object hallucination in image captioning", EMNLP 2018) on COCO.

An object mentioned in a caption is hallucinated when it is not among the image's ground-truth
objects: the categories of its ``instances_*.json`` annotations, plus the objects its reference
captions (``captions_*.json``) mention, as in the original metric. Mentions are found with the
synonym table of :mod:`mmalign.eval.synonyms` (plurals singularised, two-word objects and context phrases
matched first, a ``seat`` next to a toilet not taken for a chair).

* CHAIRs: % of captions with at least one hallucinated object.
* CHAIRi: % of object mentions that are hallucinated (every mention counts, repeats included).
* recall: % of ground-truth objects mentioned (summed over images: Σ|mentioned ∩ truth| / Σ|truth|).
* length: mean caption length in words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..synonyms import chair_vocabulary
from ..text import match_phrases, phrase_key, singular_words, words
from .common import pct as _pct

CocoFile = str | Path | Mapping[str, Any]


Vocabulary = Mapping[str, "str | None"]


def caption_objects(caption: str, vocabulary: Vocabulary | None = None) -> list[tuple[str, str]]:
    """``(phrase, category)`` for every object mention in ``caption``, in order.

    ``vocabulary``: singularised phrase → category (:func:`mmalign.eval.synonyms.read_synonyms`); COCO's
    table by default.
    """
    tokens = singular_words(caption)
    table = chair_vocabulary() if vocabulary is None else vocabulary
    mentions = [(phrase, category) for phrase, category, _ in match_phrases(tokens, table) if category]
    categories = {category for _, category in mentions}
    if "toilet" in categories:  # "the seat of the toilet" is the toilet's seat, not a chair
        mentions = [(p, c) for p, c in mentions if p != "seat"]
    return mentions


def _load(files: CocoFile | Iterable[CocoFile] | None) -> list[Mapping[str, Any]]:
    if files is None:
        return []
    if isinstance(files, (str, Path, Mapping)):
        files = [files]
    loaded = []
    for item in files:
        if isinstance(item, Mapping):
            loaded.append(item)
            continue
        path = Path(item)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"COCO file not found: {path}") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None
        if not isinstance(data, Mapping) or "annotations" not in data:
            raise ValueError(f"{path}: not a COCO annotation file (no 'annotations' list)")
        loaded.append(data)
    return loaded


def ground_truth(
    instances: CocoFile | Iterable[CocoFile],
    coco_captions: CocoFile | Iterable[CocoFile] | None = None,
    vocabulary: Vocabulary | None = None,
) -> dict[int, set[str]]:
    """Image id → ground-truth categories, for every image listed in the instances files."""
    table = chair_vocabulary() if vocabulary is None else vocabulary
    truth: dict[int, set[str]] = {}
    for data in _load(instances):
        names = {c["id"]: c["name"] for c in data.get("categories", [])}
        for image in data.get("images", []):
            truth.setdefault(int(image["id"]), set())
        for ann in data["annotations"]:
            if ann.get("category_id") not in names:
                raise ValueError(f"annotation {ann.get('id')!r}: unknown category_id {ann.get('category_id')!r}")
            category = table.get(phrase_key(names[ann["category_id"]]))
            if category is None:
                what = "a COCO category" if vocabulary is None else "in the synonym table"
                raise ValueError(f"category {names[ann['category_id']]!r} is not {what}")
            truth.setdefault(int(ann["image_id"]), set()).add(category)
    for data in _load(coco_captions):
        for ann in data["annotations"]:
            image_id = int(ann["image_id"])
            if image_id in truth:
                truth[image_id].update(category for _, category in caption_objects(ann["caption"], table))
    return truth


def chair(
    captions: Mapping[Any, str],
    instances: CocoFile | Iterable[CocoFile],
    coco_captions: CocoFile | Iterable[CocoFile] | None = None,
    vocabulary: Vocabulary | None = None,
) -> dict[str, Any]:
    """CHAIR of generated ``captions`` (image id → caption) against COCO annotations.

    ``instances`` / ``coco_captions``: ``instances_*.json`` / ``captions_*.json`` as paths or loaded
    dicts (or lists of them, e.g. train and val). Returns percentages ``chair_s``, ``chair_i``,
    ``recall``; ``length`` (mean words per caption); counts ``num_images``, ``num_mentions``,
    ``num_hallucinated``; and ``per_image``: image id → ``{"mentioned", "hallucinated",
    "ground_truth", "num_words"}`` (mentions as ``[phrase, category]``). Raises ``ValueError`` for an
    image id the instances files do not list. ``vocabulary`` (phrase → category, see
    :func:`mmalign.eval.synonyms.read_synonyms`) scores images of other object sets; COCO's by default.
    """
    truth = ground_truth(instances, coco_captions, vocabulary)
    per_image: dict[int, dict[str, Any]] = {}
    hallucinated_captions = mentions = hallucinated_mentions = covered = truth_total = total_words = 0
    for key, caption in captions.items():
        image_id = int(key)
        if image_id not in truth:
            raise ValueError(f"image id {key!r} is not in the instances file(s)")
        found = caption_objects(caption, vocabulary)
        wrong = [[p, c] for p, c in found if c not in truth[image_id]]
        num_words = len(words(caption))
        per_image[image_id] = {
            "mentioned": [[p, c] for p, c in found],
            "hallucinated": wrong,
            "ground_truth": sorted(truth[image_id]),
            "num_words": num_words,
        }
        mentions += len(found)
        hallucinated_mentions += len(wrong)
        hallucinated_captions += bool(wrong)
        covered += len({c for _, c in found} & truth[image_id])
        truth_total += len(truth[image_id])
        total_words += num_words
    n = len(per_image)
    return {
        "chair_s": _pct(hallucinated_captions, n),
        "chair_i": _pct(hallucinated_mentions, mentions),
        "recall": _pct(covered, truth_total),
        "length": total_words / n if n else 0.0,
        "num_images": n,
        "num_mentions": mentions,
        "num_hallucinated": hallucinated_mentions,
        "per_image": per_image,
    }
