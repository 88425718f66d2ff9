"""CHAIR on COCO: the model describes each image; :func:`mmalign.eval.metrics.chair` scores the captions
against ``instances_*.json`` (and ``captions_*.json`` when given).

The images are those of ``image_list`` (a text file with one image id or COCO file name per line,
or a JSON list of them) or, without one, ``num_images`` drawn from the instances file with
``sample_seed`` (the common protocol: 500 random val2014 images). Per-image details (mentioned and
hallucinated objects) go to ``chair_details.json`` beside the results.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmalign.data.jsonio import read_json, read_text
from mmalign.errors import DataError

from ..config import EvalConfig
from ..metrics import chair
from ..synonyms import read_synonyms
from .base import Benchmark, Item


@dataclass
class ChairConfig(EvalConfig):
    instances_file: str = ""  # COCO instances_val2014.json
    captions_file: str | None = None  # COCO captions_val2014.json (adds objects the references mention)
    synonyms_file: str | None = None  # category → words (JSON, or CHAIR's synonyms.txt layout); COCO's by default
    image_list: str | None = None  # ids or file names, one per line (or a JSON list)
    num_images: int = 500
    sample_seed: int = 0
    prompt: str = "Please describe this image in detail."


def read_image_list(path: str) -> list[int]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"image list not found: {p}")
    text = read_text(p)
    entries = read_json(p, "image list") if text.lstrip().startswith("[") else [line.strip() for line in text.splitlines()]
    ids = []
    for lineno, entry in enumerate(entries, start=1):
        if entry in ("", None):
            continue
        digits = re.findall(r"\d+", str(entry))
        if not digits:
            raise DataError(f"not an image id or COCO file name: {entry!r}", source=f"{p}:{lineno}")
        ids.append(int(digits[-1]))
    return ids


class ChairBenchmark(Benchmark):
    name = "chair"
    config_cls = ChairConfig
    default_max_new_tokens = 512

    def instances(self) -> dict[str, Any]:
        if not hasattr(self, "_instances"):
            if not self.config.instances_file:
                raise DataError("CHAIR needs the COCO instances file: set instances_file=PATH")
            data = read_json(self.config.instances_file, "instances file")
            if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
                raise DataError(f"{self.config.instances_file}: not a COCO instances file (needs images, annotations, categories)")
            self._instances = data
        return self._instances

    def load_items(self) -> list[Item]:
        images = {int(im["id"]): im for im in self.instances()["images"]}
        source = str(self.config.instances_file)
        if self.config.image_list:
            ids = read_image_list(self.config.image_list)
            for image_id in ids:
                if image_id not in images:
                    raise DataError(f"image {image_id} is not in {source}", source=self.config.image_list, record_id=str(image_id))
        else:
            ids = sorted(images)
            ids = sorted(random.Random(self.config.sample_seed).sample(ids, min(self.config.num_images, len(ids))))
        return [
            Item(id=str(i), prompt=self.config.prompt, images=[self.media_path(images[i]["file_name"])], source=source)
            for i in ids
        ]

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        captions = {int(item.id): records[item.id]["prediction"] for item in items}
        coco_captions = read_json(self.config.captions_file, "captions file") if self.config.captions_file else None
        vocabulary = read_synonyms(self.config.synonyms_file) if self.config.synonyms_file else None
        try:
            result = chair(captions, self.instances(), coco_captions, vocabulary)
        except ValueError as err:
            raise DataError(str(err), source=str(self.config.instances_file)) from None
        details = result.pop("per_image")
        (workdir / "chair_details.json").write_text(json.dumps(details, indent=1) + "\n", encoding="utf-8")
        return result
