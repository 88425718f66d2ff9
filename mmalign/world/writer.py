"""``write_world``: a world's images and annotation files on disk, built once and cached.

Layout under the root (paths in the files are relative to the root, which is the ``media_root``):

```
images/<image_id>.png                       every split's images
vg/image_data.json objects.json ...         Visual Genome files of the train split
coco/instances_<split>.json captions_<split>.json   COCO files of every split
captions_train.jsonl                        training captions (LLaVA conversation format)
references.jsonl                            reference samples (LLaVA conversation format)
captions_heldout.jsonl                      both held-out splits' true captions (LLaVA format; a
                                            divergence set that training never sees)
selfalign_questions.jsonl                   training captions as selfalign questions (answer_type objects)
scenes_<split>.jsonl                        the scenes as drawn (kind, objects, absent members)
synonyms.json  synonyms.txt                 category → surface words (JSON; CHAIR-style text)
mmalign_world.json                          what was built (written last)
```

Splits: ``train`` and ``reference`` follow the configured unusual share; ``heldout_usual`` holds
only usual scenes and ``heldout_unusual`` only unusual ones. Image ids are ``k * 1_000_000 + i``
with k the split's rank, so a split's ids do not depend on the other splits' sizes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..cache import build_cached
from ..data.jsonio import write_json, write_jsonl
from .formats import (
    Placed,
    coco_files,
    conversation,
    scene_record,
    selfalign_question,
    synonyms_lines,
    visual_genome,
)
from .scenes import World, WorldConfig

SPLITS = ("train", "reference", "heldout_usual", "heldout_unusual")
_UNUSUAL = {"train": None, "reference": None, "heldout_usual": False, "heldout_unusual": True}
_MARKER = "mmalign_world.json"
_FORMAT_VERSION = 3


@dataclass(frozen=True)
class WorldPaths:
    """Where :func:`write_world` put everything."""

    root: Path

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def vg_dir(self) -> Path:
        return self.root / "vg"

    @property
    def coco_dir(self) -> Path:
        return self.root / "coco"

    def instances(self, split: str) -> Path:
        return self.coco_dir / f"instances_{_check(split)}.json"

    def coco_captions(self, split: str) -> Path:
        return self.coco_dir / f"captions_{_check(split)}.json"

    def scenes(self, split: str) -> Path:
        return self.root / f"scenes_{_check(split)}.jsonl"

    @property
    def train_captions(self) -> Path:
        return self.root / "captions_train.jsonl"

    @property
    def references(self) -> Path:
        return self.root / "references.jsonl"

    @property
    def heldout_captions(self) -> Path:
        return self.root / "captions_heldout.jsonl"

    @property
    def selfalign_questions(self) -> Path:
        return self.root / "selfalign_questions.jsonl"

    @property
    def synonyms(self) -> Path:
        return self.root / "synonyms.json"

    @property
    def synonyms_txt(self) -> Path:
        return self.root / "synonyms.txt"

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.root / _MARKER).read_text(encoding="utf-8"))


def _check(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


def place(world: World, split: str, count: int) -> list[Placed]:
    """The ``count`` scenes of ``split`` with their image ids and paths (see the module docstring)."""
    scenes = world.scenes(split, count, unusual=_UNUSUAL[_check(split)])
    base = SPLITS.index(split) * 1_000_000
    return [Placed(base + i + 1, f"images/{base + i + 1}.png", s) for i, s in enumerate(scenes)]


def write_world(
    root: str | Path,
    seed: int = 0,
    num_train: int = 2000,
    num_heldout_usual: int = 200,
    num_heldout_unusual: int = 200,
    num_reference: int = 200,
    config: WorldConfig | None = None,
) -> WorldPaths:
    """Write the world of ``seed`` under ``root`` (see the module docstring); return its paths.

    Deterministic for (seed, counts, config). A root that already holds this exact world is
    reused as is; one holding another world is rebuilt; a non-empty folder that holds no world
    raises ``FileExistsError``. The files are written aside and moved into place at the end, so a
    killed run leaves nothing half written.
    """
    world = World(seed, config)
    counts = {"train": num_train, "reference": num_reference, "heldout_usual": num_heldout_usual,
              "heldout_unusual": num_heldout_unusual}
    for split, count in counts.items():
        if count < 0:
            raise ValueError(f"num_{split} must be >= 0, got {count}")
    spec = {"format_version": _FORMAT_VERSION, "seed": int(seed), "counts": counts, "config": world.config.to_dict()}
    build_cached(root, spec, lambda tmp: _write_into(tmp, world, counts), marker=_MARKER, what="world")
    return WorldPaths(Path(root))


def _write_into(root: Path, world: World, counts: dict[str, int]) -> None:
    placed = {split: place(world, split, counts[split]) for split in SPLITS}
    (root / "images").mkdir()
    total = sum(counts.values())
    with tqdm(total=total, desc="world images", unit="img", disable=total < 500) as bar:
        for items in placed.values():
            for p in items:
                world.render(p.scene).save(root / p.image)
                bar.update()
    paths = WorldPaths(root)
    paths.vg_dir.mkdir()
    for name, records in visual_genome(world, placed["train"]).items():
        write_json(paths.vg_dir / f"{name}.json", records)
    paths.coco_dir.mkdir()
    for split, items in placed.items():
        instances, captions = coco_files(world, items, split)
        write_json(paths.instances(split), instances)
        write_json(paths.coco_captions(split), captions)
        write_jsonl(paths.scenes(split), [scene_record(world, p, split) for p in items])
    write_jsonl(paths.train_captions, [conversation(world, p, "train") for p in placed["train"]])
    write_jsonl(paths.references, [conversation(world, p, "reference") for p in placed["reference"]])
    heldout = [conversation(world, p, split) for split in ("heldout_usual", "heldout_unusual") for p in placed[split]]
    write_jsonl(paths.heldout_captions, heldout)
    write_jsonl(paths.selfalign_questions, [selfalign_question(world, p, "train") for p in placed["train"]])
    write_json(paths.synonyms, world.synonyms())
    paths.synonyms_txt.write_text("\n".join(synonyms_lines(world)) + "\n", encoding="utf-8")
