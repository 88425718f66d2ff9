"""The embedded experiment's assets and the ``world://`` names that stand for them: the procedural
world, its hallucinating base model and DPA pairs built from it, all built for a seed and cached.

``python -m mmalign.train recipe=tiny`` names its assets ``world://``:

``model: world://base``      the world's base captioner (:func:`mmalign.world.base_model.build_world_vlm`)
``train_file: world://pairs`` DPA pairs the ``halva`` pipeline builds from the world's COCO-format
                              annotations (``recipes/gen/halva_world.yaml``: reference captions as
                              y⁺, one object swapped for an absent co-occurring one as y⁻)
``ref_file: world://refs``   the world's reference captions (DPA's KL samples)

Everything is built for the recipe's ``seed`` and cached under ``$MMALIGN_CACHE/world/seed-<seed>``.
The core reaches this module only through :func:`mmalign.builtin.resolve_builtins`; after training,
:mod:`mmalign.world.comparison` compares the aligned model with the base on held-out scenes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import cache_dir
from ..errors import MMAlignError

PREFIX = "world://"
HELDOUT_SPLITS = ("heldout_usual", "heldout_unusual")
#: scenes per held-out split; the comparison may use the first ``world_eval_samples`` of them
HELDOUT_SCENES = 200


@dataclass(frozen=True)
class WorldAssets:
    root: Path  # the world (media root of every file below)
    base: Path  # the base model
    pairs: Path
    references: Path
    heldout_captions: Path  # held-out scenes' true captions, LLaVA conversations (for the KL)


def world_dir(seed: int) -> Path:
    return cache_dir() / "world" / f"seed-{seed}"


def prepare_world(seed: int, progress: bool = True) -> WorldAssets:
    """Write the world of ``seed``, build its base model and its DPA pairs (all cached)."""
    from .base_model import PretrainConfig, build_world_vlm
    from .scenes import WorldConfig
    from .writer import write_world

    home = world_dir(seed)
    paths = write_world(home / "world", seed, num_train=PretrainConfig().num_scenes,
                        num_heldout_usual=HELDOUT_SCENES, num_heldout_unusual=HELDOUT_SCENES)
    base = build_world_vlm(home / "base", seed, WorldConfig(), progress=progress)
    pairs = paths.root / "pairs" / "halva_world.jsonl"  # inside the world: rebuilt with it
    _generate_pairs(paths.root, pairs, seed, progress)
    return WorldAssets(paths.root, base, pairs, paths.references, paths.heldout_captions)


def _generate_pairs(root: Path, output: Path, seed: int, progress: bool) -> None:
    """Run the real ``halva`` pipeline on the world (resumable: a finished run is a no-op)."""
    from mmalign.data_gen.config import load_gen_config
    from mmalign.data_gen.runner import generate

    coco = root / "coco"
    config = load_gen_config([
        "recipe=halva_world", f"coco_instances={coco / 'instances_train.json'}",
        f"coco_captions={coco / 'captions_train.json'}", f"aliases_file={root / 'synonyms.txt'}",
        f"media_root={root}", f"output_file={output}", f"seed={seed}", f"progress={str(progress).lower()}",
    ])
    generate(config)


def resolve_world(setup: Any) -> WorldAssets | None:
    """Replace ``world://`` names in a :class:`~mmalign.config.TrainSetup` by built local paths."""
    data, model = setup.data, setup.model
    names = {"model": model.model, "train_file": data.train_file, "ref_file": data.ref_file or ""}
    if not any(str(v).startswith(PREFIX) for v in names.values()):
        return None
    known = {"model": ("base",), "train_file": ("pairs",), "ref_file": ("refs",)}
    for key, value in names.items():
        if str(value).startswith(PREFIX) and value[len(PREFIX):] not in known[key]:
            raise MMAlignError(f"{key}={value}: unknown world asset; {key} takes {PREFIX}{known[key][0]}")
    assets = prepare_world(setup.training.seed, progress=not setup.training.disable_tqdm)
    if model.model.startswith(PREFIX):
        model.model = str(assets.base)
    if data.train_file.startswith(PREFIX):
        data.train_file = str(assets.pairs)
        setup.media_roots[data.train_file] = str(assets.root)
    if str(data.ref_file or "").startswith(PREFIX):
        data.ref_file = str(assets.references)
        setup.media_roots[data.ref_file] = str(assets.root)
    return assets
