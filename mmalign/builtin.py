"""Built-in assets: ``tiny://`` names that build a tiny model and pair set offline (the smoke recipe),
and the one door to the embedded experiment (:mod:`mmalign.world`): ``world://`` names, which
:func:`mmalign.world.assets.resolve_world` resolves.

``model=tiny://llava`` (or any other family of :data:`mmalign.tiny.FAMILIES`: ``tiny://qwen2_5_vl``,
``tiny://gemma3`` …) builds a small, randomly initialised model of that family with
:func:`mmalign.tiny.build_tiny_vlm`; ``train_file=tiny://pairs`` and ``ref_file=tiny://refs`` write a small set of shape pictures with tagged correct/hallucinated
descriptions. Everything is deterministic and cached under ``$MMALIGN_CACHE`` (default
``~/.cache/mmalign``), so the real loading code (``from_pretrained``, the JSONL readers) runs on it.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

from .cache import cache_dir
from .data.jsonio import write_jsonl

PREFIX = "tiny://"
COLORS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 70, 220), "yellow": (230, 200, 40)}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
NUM_PAIRS = 96
NUM_REFS = 48


def resolve_builtins(setup: Any) -> Any:
    """Replace ``tiny://`` and ``world://`` names in a :class:`~mmalign.config.TrainSetup` by built
    local paths; returns the world's assets (:class:`mmalign.world.assets.WorldAssets`, or
    :class:`mmalign.world.video_assets.VideoWorldAssets` for ``world://video_*``) when it names any,
    else None."""
    from .world.assets import resolve_world
    from .world.video_assets import resolve_video_world

    check_builtin_names(setup)
    video = resolve_video_world(setup)  # world://video_* names first: the image world's resolver rejects them
    assets = video or resolve_world(setup)
    data = setup.data
    if str(data.train_file).startswith(PREFIX) or str(data.ref_file or "").startswith(PREFIX):
        root = build_demo_data()
        for key in ("train_file", "ref_file"):
            value = str(getattr(data, key) or "")
            if value.startswith(PREFIX):
                path = str(root / f"{value[len(PREFIX):]}.jsonl")
                setattr(data, key, path)
                setup.media_roots[path] = str(root)
    if setup.model.model.startswith(PREFIX):
        from .tiny import build_tiny_vlm

        family = setup.model.model[len(PREFIX):]
        setup.model.model = str(build_tiny_vlm(family, cache_dir() / f"tiny-{family}", corpus=demo_corpus()))
    return assets


#: the ``tiny://`` data files and what they are
DATA_FILES = {"train_file": ("pairs",), "ref_file": ("refs",)}


def check_builtin_names(setup: Any) -> None:
    """Unknown ``tiny://`` names are one line, before anything is built or loaded."""
    from .errors import ConfigError
    from .tiny import FAMILIES

    model = str(setup.model.model)
    if model.startswith(PREFIX) and model[len(PREFIX):] not in FAMILIES:
        raise ConfigError(f"model={model}: no tiny model family {model[len(PREFIX):]!r}; "
                          f"expected one of {', '.join(PREFIX + f for f in FAMILIES)}")
    for key, known in DATA_FILES.items():
        value = str(getattr(setup.data, key) or "")
        if value.startswith(PREFIX) and value[len(PREFIX):] not in known:
            raise ConfigError(f"{key}={value}: unknown built-in data; {key} takes {PREFIX}{known[0]}")


def _scene(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(list(COLORS)), rng.choice(SHAPES), rng.choice(SIZES)


def draw_scene(color: str, shape: str, size: str, image_size: int = 56):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (image_size, image_size), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    r = image_size * (0.4 if size == "large" else 0.2)
    c = image_size / 2
    box = (c - r, c - r, c + r, c + r)
    if shape == "circle":
        draw.ellipse(box, fill=COLORS[color])
    elif shape == "square":
        draw.rectangle(box, fill=COLORS[color])
    else:
        draw.polygon([(c, c - r), (c - r, c + r), (c + r, c + r)], fill=COLORS[color])
    return image


def describe(color: str, shape: str, size: str, tag: str | None = None) -> str:
    """``There is a large red circle.``, with the word ``tag`` (color/shape/size) tagged."""
    words = {"size": size, "color": color, "shape": shape}
    if tag:
        words[tag] = f"<MASK>{words[tag]}</MASK>"
    return f"There is a {words['size']} {words['color']} {words['shape']} in the picture."


def demo_corpus() -> list[str]:
    lines = [describe(c, s, z) for c in COLORS for s in SHAPES for z in SIZES]
    lines += ["Describe the image.", "What color is the shape?", "What shape do you see?", "How big is the shape?"]
    lines += [f"It is {w}." for w in (*COLORS, *SHAPES, *SIZES)]
    return lines


def build_demo_data(root: Path | None = None, seed: int = 0) -> Path:
    """Write ``pairs.jsonl`` (canonical format), ``refs.jsonl`` (LLaVA conversations) and images."""
    final = root or cache_dir() / "tiny-data"
    if (final / "pairs.jsonl").is_file():
        return final
    # Built aside and renamed into place, so concurrent processes never see half a data set.
    root = final.with_name(f"{final.name}.tmp{os.getpid()}")
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    pairs, refs = [], []
    for i in range(NUM_PAIRS):
        color, shape, size = _scene(rng)
        image = f"images/pair_{i:03d}.png"
        draw_scene(color, shape, size).save(root / image)
        tag = rng.choice(("color", "shape", "size"))
        wrong = {"color": color, "shape": shape, "size": size}
        options = {"color": list(COLORS), "shape": list(SHAPES), "size": list(SIZES)}[tag]
        wrong[tag] = rng.choice([o for o in options if o != wrong[tag]])
        pairs.append(
            {
                "id": f"tiny-{i:03d}",
                "prompt": "Describe the image.",
                "chosen": describe(color, shape, size, tag),
                "rejected": describe(wrong["color"], wrong["shape"], wrong["size"], tag),
                "images": [image],
                "kind": "closed",
                "source": "tiny",
            }
        )
    for i in range(NUM_REFS):
        color, shape, size = _scene(rng)
        image = f"images/ref_{i:03d}.png"
        draw_scene(color, shape, size).save(root / image)
        question, answer = rng.choice(
            [("What color is the shape?", color), ("What shape do you see?", shape), ("How big is the shape?", size)]
        )
        refs.append(
            {
                "id": f"ref-{i:03d}",
                "image": image,
                "conversations": [
                    {"from": "human", "value": f"<image>\n{question}"},
                    {"from": "gpt", "value": f"It is {answer}."},
                ],
            }
        )
    write_jsonl(root / "refs.jsonl", refs)
    write_jsonl(root / "pairs.jsonl", pairs)
    try:
        root.rename(final)
    except OSError:  # another process finished first
        shutil.rmtree(root, ignore_errors=True)
    return final
