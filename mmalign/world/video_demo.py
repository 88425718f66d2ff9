"""The video world as an experiment: self-align its base video LLM with RRPO on its own mistakes and
show that it reads unusual clips better while staying close to its base (``recipe=tiny_video``).

``python -m mmalign.train recipe=tiny_video`` names its assets ``world://``:

``model: world://video_base``       the video world's base model (:func:`~mmalign.world.video_model.build_video_world_vlm`)
``train_file: world://video_pairs`` RRPO self-alignment pairs that the ``selfalign`` pipeline builds by
                                    letting the base answer questions on the training clips, original
                                    and perturbed (``recipes/gen/selfalign_video_world.yaml``)

Everything is built for the recipe's ``seed`` and cached under ``$MMALIGN_CACHE/video_world/seed-<seed>``.
After training, with ``compare_on_world: true``, :func:`compare_on_video_world` asks the base and the
aligned model the held-out usual and unusual clips' multiple-choice questions with the project's
video multiple-choice evaluator (``mmalign.eval.benchmarks.video_mc``, the TVBench/MVBench layout), measures
the aligned model's token KL from its base on the held-out clips' true answers and captions
(``mmalign.eval.benchmarks.divergence``), and prints the side-by-side table (also written to
``world_comparison.json`` / ``.md`` in the output folder).
"""

from __future__ import annotations

import json
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
    root: Path  # the world (media root of every file below)
    base: Path  # the base model
    pairs: Path  # self-alignment pairs of the base
    heldout_conversations: Path  # held-out clips' true answers and captions (for the KL)

    def compare(self, base: str, aligned: Path, method: str, samples: int | None = None) -> dict[str, Any]:
        return compare_on_video_world(self, base, aligned, method, samples)


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
    if data.media_root is None:
        data.media_root = str(assets.root)
    return assets


def compare_on_video_world(assets: VideoWorldAssets, base: str, aligned: Path, method: str,
                           samples: int | None = None) -> dict[str, Any]:
    """Multiple-choice accuracy on held-out usual and unusual clips for the base and the aligned
    model, and the aligned model's token KL from its base; prints the table and writes it beside
    the model. Under ``accelerate launch`` every process answers its share; the main process
    scores, prints and returns the result, the others return an empty dict."""
    from accelerate import PartialState

    from mmalign.eval.benchmarks.divergence import DivergenceConfig
    from mmalign.eval.benchmarks.video_mc import VideoMCConfig
    from mmalign.eval.runner import run as run_eval

    from .video_writer import VideoWorldPaths

    paths = VideoWorldPaths(assets.root)
    frames = paths.manifest()["config"]["num_frames"]
    is_adapter = (aligned / "adapter_config.json").is_file()
    aligned_model, adapter = (base, str(aligned)) if is_adapter else (str(aligned), None)
    rows: dict[str, dict[str, Any]] = {}
    work = aligned / "world_eval"
    for label in ("base", method):
        rows[label] = {}
        for split in HELDOUT_SPLITS:
            # The base's answers are kept with the base and reused by later runs.
            out = (assets.base / "eval" / split) if label == "base" else work / split
            config = VideoMCConfig(
                benchmark="tvbench", model=base if label == "base" else aligned_model,
                adapter=None if label == "base" else adapter, annotation=str(paths.mc_dir(split)),
                media_root=str(assets.root), num_frames=frames, batch_size=50, max_samples=samples,
                output_dir=str(out), overwrite=label != "base", dtype="float32",
            )
            rows[label][split] = run_eval(config, show=False)
    divergence = DivergenceConfig(
        benchmark="divergence", model=aligned_model, adapter=adapter, base_model=None if is_adapter else base,
        ref_file=str(assets.heldout_conversations), media_root=str(assets.root), num_frames=frames,
        batch_size=50, output_dir=str(work / "divergence"), overwrite=True, dtype="float32",
    )  # every held-out clip, whatever ``samples``
    kl = run_eval(divergence, show=False).get("kl_per_token")
    if not PartialState().is_main_process:
        return {}
    result = {"world": "video", "method": method, "kl_per_token": kl,
              "samples_per_split": rows["base"]["heldout_usual"]["n"],
              "models": {label: {split.removeprefix("heldout_"): _metrics(m) for split, m in splits.items()}
                         for label, splits in rows.items()}}
    table = comparison_table(result)
    (aligned / "world_comparison.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (aligned / "world_comparison.md").write_text(table + "\n", encoding="utf-8")
    print("\n" + table + "\n")
    return result


def _metrics(m: dict[str, Any]) -> dict[str, Any]:
    return {"accuracy": float(m["accuracy"]), "groups": {k: float(v) for k, v in m["groups"].items()},
            "unparseable": int(m["unparseable"])}


def comparison_table(result: dict[str, Any]) -> str:
    """Markdown: one row per model, accuracy on each held-out split (and per task), KL to base."""
    from .video import TASKS

    head = ["model", "usual accuracy", "unusual accuracy", *[f"unusual {t.replace('_', ' ')}" for t in TASKS],
            "token KL to base"]
    n = result["samples_per_split"]
    lines = [f"Held-out video world clips ({n} usual, {n} unusual), one multiple-choice question each, greedy "
             "answers, accuracy in %:", "", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for label, splits in result["models"].items():
        kl = 0.0 if label == "base" else result["kl_per_token"]
        cells = [f"{splits['usual']['accuracy']:.1f}", f"{splits['unusual']['accuracy']:.1f}",
                 *[f"{splits['unusual']['groups'].get(t, float('nan')):.1f}" for t in TASKS]]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {kl:.4f} |")
    base, aligned = result["models"]["base"], result["models"][result["method"]]
    lines += ["", f"unusual accuracy {base['unusual']['accuracy']:.1f} → {aligned['unusual']['accuracy']:.1f} "
                  f"({aligned['unusual']['accuracy'] - base['unusual']['accuracy']:+.1f} points); usual "
                  f"{base['usual']['accuracy']:.1f} → {aligned['usual']['accuracy']:.1f}"]
    return "\n".join(lines)
