"""How much the world's base model hallucinates: CHAIR-style numbers on held-out usual and unusual scenes.

    python bench/world_base.py --seeds 0 1 2 [--heldout 200] [--cache DIR] [--json OUT]

For each seed: writes the world (:func:`mmalign.world.write_world`), builds the base model
(:func:`mmalign.world.base_model.build_world_vlm`, timed), captions the held-out scenes greedily with
the evaluation's transformers backend, and prints per seed and split: CHAIRs (% of captions naming
an object that is not in the image), CHAIRi (% of object mentions that are such objects), recall
(% of the image's objects named) and the % of captions naming the group's absent usual member.

The numbers come from the CHAIR evaluator (``mmalign.eval.metrics.chair``) given the world's own synonym
table. ``python -m mmalign.train recipe=tiny`` makes the same measurement before and after DPA.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mmalign.cache import cache_dir
from mmalign.world import CAPTION_PROMPT, write_world
from mmalign.world.base_model import PretrainConfig, build_world_vlm


def world_chair(captions: list[str], scenes: list[dict], paths, split: str) -> dict[str, float]:
    """CHAIRs, CHAIRi and recall from the CHAIR evaluator with the world's synonym table, plus the
    % of captions naming the scene group's absent usual member."""
    from mmalign.eval.metrics.chair import caption_objects, chair
    from mmalign.eval.synonyms import read_synonyms

    vocabulary = read_synonyms(paths.synonyms)
    result = chair({s["image_id"]: c for c, s in zip(captions, scenes, strict=True)}, paths.instances(split), vocabulary=vocabulary)
    named_absent = sum(any(c in s["absent"] for _, c in caption_objects(caption, vocabulary)) for caption, s in zip(captions, scenes))
    return {key: result[key] for key in ("chair_s", "chair_i", "recall")} | {"absent_member_named": 100.0 * named_absent / len(captions)}


def caption_split(model, processor, paths, split: str) -> tuple[list[str], list[dict]]:
    from mmalign.eval.benchmarks.base import Item
    from mmalign.eval.generation import Sampling, TransformersBackend

    scenes = [json.loads(line) for line in paths.scenes(split).read_text().splitlines()]
    items = [Item(id=str(s["image_id"]), prompt=CAPTION_PROMPT, images=[str(paths.root / s["image"])]) for s in scenes]
    backend = TransformersBackend(model, processor)
    captions: list[str] = []
    for start in range(0, len(items), 100):
        captions += backend.generate(items[start : start + 100], Sampling(max_new_tokens=48))
    return captions, scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--heldout", type=int, default=200, help="held-out scenes per split")
    parser.add_argument("--cache", default=str(cache_dir() / "world-bench"), help="where worlds and models go")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    parser.add_argument("--examples", type=int, default=3, help="captions to show per split and seed")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cache = Path(args.cache)
    rows, results = [], {}
    for seed in args.seeds:
        paths = write_world(cache / f"world-{seed}", seed, num_train=PretrainConfig().num_scenes,
                            num_heldout_usual=args.heldout, num_heldout_unusual=args.heldout)
        wall, cpu = time.perf_counter(), _cpu_seconds()
        model_dir = build_world_vlm(cache / f"base-{seed}", seed)
        build = {"wall_s": time.perf_counter() - wall, "cpu_s": _cpu_seconds() - cpu}
        model = AutoModelForImageTextToText.from_pretrained(model_dir).eval()
        processor = AutoProcessor.from_pretrained(model_dir)
        results[seed] = {"build": build}
        for split in ("heldout_usual", "heldout_unusual"):
            with torch.no_grad():
                captions, scenes = caption_split(model, processor, paths, split)
            numbers = world_chair(captions, scenes, paths, split)
            results[seed][split] = numbers
            rows.append((seed, split, numbers, build))
            for caption, scene in list(zip(captions, scenes))[: args.examples]:
                print(f"  seed {seed} {scene['kind']:>8}: {scene['caption']}\n{'':>20}→ {caption}")
    print("\n| seed | split | CHAIRs | CHAIRi | recall | absent member named | build wall s (cpu s) |")
    print("|---|---|---|---|---|---|---|")
    for seed, split, n, build in rows:
        print(f"| {seed} | {split.removeprefix('heldout_')} | {n['chair_s']:.1f} | {n['chair_i']:.1f} | "
              f"{n['recall']:.1f} | {n['absent_member_named']:.1f} | {build['wall_s']:.0f} ({build['cpu_s']:.0f}) |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
