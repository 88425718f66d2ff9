"""The video experiment's assets (``recipe=tiny_video``) and the ``world://video_*`` names that stand
for them: the video world, its base video LLM and the base's self-alignment pairs, built for a seed
and cached. After training, :mod:`mmalign.world.video_comparison` compares the aligned model with
the base on held-out clips.

``python -m mmalign.train recipe=tiny_video`` names its assets ``world://``:

``model: world://video_base``       the video world's base model (:func:`~mmalign.world.video_model.build_video_world_vlm`)
``train_file: world://video_pairs`` RRPO self-alignment pairs that the ``selfalign`` pipeline builds by
                                    letting the base answer questions on the training clips, original
                                    and perturbed (``recipes/gen/selfalign_video_world.yaml``)

Everything is built for the recipe's ``seed`` and cached under ``$MMALIGN_CACHE/video_world/seed-<seed>``.
The core reaches this module only through :func:`mmalign.builtin.resolve_builtins`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .video_model import VideoPretrainConfig

PREFIX = "world://"
ASSETS = {"model": "video_base", "train_file": "video_pairs"}
HELDOUT_SPLITS = ("heldout_usual", "heldout_unusual")


@dataclass(frozen=True)
class VideoExperiment:
    """The sizes of the experiment: clips per split, the base's pretraining, and the
    self-alignment run (``gen_overrides``: ``key=value`` for ``recipes/gen/selfalign_video_world.yaml``)."""

    num_train: int = 2000
    num_heldout: int = 150  # per held-out split; the comparison may use the first ``world_eval_samples``
    pretrain: VideoPretrainConfig = field(default_factory=VideoPretrainConfig)
    gen_overrides: tuple[str, ...] = ("max_items=2400",)  # the first 800 training clips' questions


#: what ``recipe=tiny_video`` builds (tests put a reduced experiment in its place)
EXPERIMENT = VideoExperiment()


@dataclass(frozen=True)
class VideoWorldAssets:
    world = "video"  # which comparison follows training (the image world's assets have none)
    root: Path  # the world (media root of every file below)
    base: Path  # the base model
    pairs: Path  # self-alignment pairs of the base
    heldout_conversations: Path  # held-out clips' true answers and captions (for the KL)


def video_world_dir(seed: int) -> Path:
    from ..cache import cache_dir

    return cache_dir() / "video_world" / f"seed-{seed}"


def prepare_video_world(seed: int, progress: bool = True, experiment: VideoExperiment | None = None) -> VideoWorldAssets:
    """Write the video world of ``seed``, build its base model and the base's self-alignment pairs
    (all cached under :func:`video_world_dir`)."""
    from .video_model import build_video_world_vlm
    from .video_writer import write_video_world

    experiment = experiment or EXPERIMENT
    home = video_world_dir(seed)
    paths = write_video_world(home / "world", seed, num_train=experiment.num_train,
                              num_heldout_usual=experiment.num_heldout, num_heldout_unusual=experiment.num_heldout)
    pretrain = replace(experiment.pretrain, num_clips=min(experiment.pretrain.num_clips, experiment.num_train))
    base = build_video_world_vlm(home / "base", paths.root, seed, pretrain, progress=progress)
    pairs = base / "pairs" / "selfalign_video_world.jsonl"  # the base's own mistakes: kept with the base
    generate_selfalign_pairs(base, paths.root, pairs, seed, progress, experiment.gen_overrides)
    return VideoWorldAssets(paths.root, base, pairs, paths.heldout_conversations)


def generate_selfalign_pairs(base: Path, root: Path, output: Path, seed: int, progress: bool = True,
                             overrides: tuple[str, ...] = ()) -> Path:
    """Run the real ``selfalign`` pipeline with the base on the world's training questions
    (resumable: a finished run is a no-op)."""
    from mmalign.data_gen.config import load_gen_config
    from mmalign.data_gen.runner import generate

    config = load_gen_config([
        "recipe=selfalign_video_world", f"model={base}", f"input_file={root / 'selfalign_questions.jsonl'}",
        f"media_root={root}", f"output_file={output}", f"seed={seed}", f"progress={str(progress).lower()}", *overrides,
    ])
    generate(config)
    return output


def is_video_world_name(value: Any) -> bool:
    return str(value or "").startswith(PREFIX + "video_")


def resolve_video_world(setup: Any) -> VideoWorldAssets | None:
    """Replace ``world://video_*`` names in a :class:`~mmalign.config.TrainSetup` by built local paths."""
    from ..errors import MMAlignError

    data, model = setup.data, setup.model
    names = {"model": model.model, "train_file": data.train_file}
    if not any(is_video_world_name(v) for v in names.values()):
        return None
    for key, value in names.items():
        if is_video_world_name(value) and value != PREFIX + ASSETS[key]:
            raise MMAlignError(f"{key}={value}: unknown video world asset; {key} takes {PREFIX}{ASSETS[key]}")
    if is_video_world_name(data.ref_file):
        raise MMAlignError(f"ref_file={data.ref_file}: the video world has no reference samples")
    assets = prepare_video_world(setup.training.seed, progress=not setup.training.disable_tqdm)
    if is_video_world_name(model.model):
        model.model = str(assets.base)
    if is_video_world_name(data.train_file):
        data.train_file = str(assets.pairs)
        setup.media_roots[data.train_file] = str(assets.root)
    return assets
