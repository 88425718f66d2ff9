"""CHAIR (Rohrbach et al., "Object hallucination in image captioning", EMNLP 2018) on COCO.

An object mentioned in a caption is hallucinated when it is not among the image's ground-truth
objects: the categories of its ``instances_*.json`` annotations, plus the objects its reference
captions (``captions_*.json``) mention.

* CHAIRs: % of captions with at least one hallucinated object.
* CHAIRi: % of object mentions that are hallucinated (every mention counts, repeats included).
* recall: % of ground-truth objects mentioned (summed over images: Σ|mentioned ∩ truth| / Σ|truth|).
* length: mean caption length in tokens.

On COCO, mentions are found exactly as HALVA's ``eval_chair.py`` (the CHAIR code) finds them
(:func:`coco_mentions`): the lower-cased caption is tokenised, tagged and lemmatised with the
WordNet part of speech of each tag (:mod:`mmalign.eval.nlp`: ``skiing`` tagged as a verb is ``ski``, so
skis; ``cars parked`` is ``car park``, two words), CHAIR's two-word rules are applied left to right
(:data:`mmalign.eval.synonyms.COCO_DOUBLE_WORDS`), a ``seat`` is dropped when the caption also names a
toilet, and the remaining words are looked up in CHAIR's table (:data:`mmalign.eval.synonyms.COCO_SYNONYMS`).
Length counts the tokens after the two-word merge, punctuation included, as the script does. The
results say which word pipeline ran (``nlp``: ``nltk`` with its data, or ``offline``).

With another object set (``vocabulary``, :func:`mmalign.eval.synonyms.read_synonyms`) the table's phrases
are matched on singularised words (:func:`mmalign.eval.text.match_phrases`: longest first, so any
multi-word name matches), and length counts words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import nlp
from ..synonyms import COCO_DOUBLE_WORDS, COCO_WORDS
from ..text import match_phrases, phrase_key, singular_words, words
from .common import pct as _pct

CocoFile = str | Path | Mapping[str, Any]


Vocabulary = Mapping[str, "str | None"]


def coco_words(caption: str) -> list[str]:
    """The caption's lemmas after CHAIR's two-word merge (``["a", "hot dog", "on", "a", "plate", "."]``)."""
    tokens = nlp.tokenize(caption.lower())
    lemmas = [nlp.lemmatize(token, nlp.wordnet_pos(tag)) for token, tag in nlp.pos_tag(tokens)]
    merged, i = [], 0
    while i < len(lemmas):
        pair = " ".join(lemmas[i : i + 2])
        if pair in COCO_DOUBLE_WORDS:
            merged.append(COCO_DOUBLE_WORDS[pair])
            i += 2
        else:
            merged.append(lemmas[i])
            i += 1
    return merged


def coco_mentions(merged: list[str]) -> list[tuple[str, str]]:
    """``(word, category)`` for every COCO object among the merged words of :func:`coco_words`."""
    if "toilet" in merged and "seat" in merged:  # "the seat of the toilet" is no chair
        merged = [word for word in merged if word != "seat"]
    return [(word, COCO_WORDS[word]) for word in merged if word in COCO_WORDS]


def caption_objects(caption: str, vocabulary: Vocabulary | None = None) -> list[tuple[str, str]]:
    """``(phrase, category)`` for every object mention in ``caption``, in order.

    ``vocabulary``: singularised phrase → category (:func:`mmalign.eval.synonyms.read_synonyms`); without
    one, COCO's, as CHAIR finds them (:func:`coco_mentions`).
    """
    if vocabulary is None:
        return coco_mentions(coco_words(caption))
    tokens = singular_words(caption)
    mentions = [(phrase, category) for phrase, category, _ in match_phrases(tokens, vocabulary) if category]
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
    images: Iterable[int] | None = None,
) -> dict[int, set[str]]:
    """Image id → ground-truth categories, for every image listed in the instances files; the
    reference captions are read only for ``images`` when given (tagging all of COCO's captions
    takes minutes, and other images' captions do not change these images' truth)."""
    wanted = None if images is None else {int(i) for i in images}
    table = COCO_WORDS if vocabulary is None else vocabulary
    truth: dict[int, set[str]] = {}
    for data in _load(instances):
        names = {c["id"]: c["name"] for c in data.get("categories", [])}
        for image in data.get("images", []):
            truth.setdefault(int(image["id"]), set())
        for ann in data["annotations"]:
            if ann.get("category_id") not in names:
                raise ValueError(f"annotation {ann.get('id')!r}: unknown category_id {ann.get('category_id')!r}")
            name = names[ann["category_id"]]
            category = table.get(name if vocabulary is None else phrase_key(name))
            if category is None:
                what = "a COCO category" if vocabulary is None else "in the synonym table"
                raise ValueError(f"category {names[ann['category_id']]!r} is not {what}")
            truth.setdefault(int(ann["image_id"]), set()).add(category)
    for data in _load(coco_captions):
        for ann in data["annotations"]:
            image_id = int(ann["image_id"])
            if image_id in truth and (wanted is None or image_id in wanted):
                truth[image_id].update(category for _, category in caption_objects(ann["caption"], vocabulary))
    return truth


def chair(
    captions: Mapping[Any, str],
    instances: CocoFile | Iterable[CocoFile],
    coco_captions: CocoFile | Iterable[CocoFile] | None = None,
    vocabulary: Vocabulary | None = None,
) -> dict[str, Any]:
    """CHAIR of generated ``captions`` (image id → caption) against COCO annotations, as HALVA's
    ``eval_chair.py`` computes it (unrounded; the script prints percentages to one decimal).

    ``instances`` / ``coco_captions``: ``instances_*.json`` / ``captions_*.json`` as paths or loaded
    dicts (or lists of them, e.g. train and val). Returns percentages ``chair_s``, ``chair_i``,
    ``recall``; ``length`` (mean tokens per caption); ``nlp`` (the word pipeline, COCO only); counts ``num_images``, ``num_mentions``,
    ``num_hallucinated``; and ``per_image``: image id → ``{"mentioned", "hallucinated",
    "ground_truth", "num_words"}`` (mentions as ``[phrase, category]``). Raises ``ValueError`` for an
    image id the instances files do not list. ``vocabulary`` (phrase → category, see
    :func:`mmalign.eval.synonyms.read_synonyms`) scores images of other object sets; COCO's by default.
    """
    truth = ground_truth(instances, coco_captions, vocabulary, images=[int(key) for key in captions])
    per_image: dict[int, dict[str, Any]] = {}
    hallucinated_captions = mentions = hallucinated_mentions = covered = truth_total = total_words = 0
    for key, caption in captions.items():
        image_id = int(key)
        if image_id not in truth:
            raise ValueError(f"image id {key!r} is not in the instances file(s)")
        if vocabulary is None:
            merged = coco_words(caption)
            found, num_words = coco_mentions(merged), len(merged)
        else:
            found, num_words = caption_objects(caption, vocabulary), len(words(caption))
        wrong = [[p, c] for p, c in found if c not in truth[image_id]]
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
        **({"nlp": nlp.backend()} if vocabulary is None else {}),
        "chair_s": _pct(hallucinated_captions, n),
        "chair_i": _pct(hallucinated_mentions, mentions),
        "recall": _pct(covered, truth_total),
        "length": total_words / n if n else 0.0,
        "num_images": n,
        "num_mentions": mentions,
        "num_hallucinated": hallucinated_mentions,
        "per_image": per_image,
    }
