"""The embedded default as an experiment: align the procedural world's hallucinating base model and
show that it hallucinates less while staying close to its base.

``python -m mmalign.train recipe=tiny`` names its assets ``world://``:

``model: world://base``      the world's base captioner (:func:`mmalign.world_model.build_world_vlm`)
``train_file: world://pairs`` DPA pairs the ``halva`` pipeline builds from the world's COCO-format
                              annotations (``recipes/gen/halva_world.yaml``: reference captions as
                              y⁺, one object swapped for an absent co-occurring one as y⁻)
``ref_file: world://refs``   the world's reference captions (DPA's KL samples)

Everything is built for the recipe's ``seed`` and cached under ``$MMALIGN_CACHE/world/seed-<seed>``.
After training, with ``compare_on_world: true``, :func:`compare_on_world` captions the held-out
usual and unusual scenes with the base and the aligned model, scores them with the CHAIR
evaluator (``mmalign.eval.benchmarks.chair`` with the world's synonym table), measures the token KL of the
aligned model from its base on held-out captions (``mmalign.eval.benchmarks.divergence``), and prints the
side-by-side table (also written to ``world_comparison.json`` / ``.md`` in the output folder).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MMAlignError

logger = logging.getLogger("mmalign")

PREFIX = "world://"
HELDOUT_SPLITS = ("heldout_usual", "heldout_unusual")
#: scenes per held-out split; the comparison may use the first ``world_eval_samples`` of them
HELDOUT_SCENES = 200
CAPTION_TOKENS = 48  # world captions are 10–25 tokens


@dataclass(frozen=True)
class WorldAssets:
    root: Path  # the world (media root of every file below)
    base: Path  # the base model
    pairs: Path
    references: Path
    heldout_captions: Path  # held-out scenes' true captions, LLaVA conversations (for the KL)


def world_dir(seed: int) -> Path:
    from .builtin import cache_dir

    return cache_dir() / "world" / f"seed-{seed}"


def prepare_world(seed: int, progress: bool = True) -> WorldAssets:
    """Write the world of ``seed``, build its base model and its DPA pairs (all cached)."""
    from .world import WorldConfig, write_world
    from .world_model import PretrainConfig, build_world_vlm

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


def compare_on_world(assets: WorldAssets, base: str, aligned: Path, method: str, samples: int | None = None) -> dict[str, Any]:
    """CHAIR on held-out usual and unusual scenes for the base and the aligned model, and the
    aligned model's token KL from its base; prints the table and writes it beside the model.

    Under ``accelerate launch`` every process calls this and answers its share of the scenes; the
    main process scores, prints and returns the result, the others return an empty dict.
    """
    from accelerate import PartialState

    from mmalign.eval.benchmarks.chair import ChairConfig
    from mmalign.eval.benchmarks.divergence import DivergenceConfig
    from mmalign.eval.runner import run as run_eval

    from .world import CAPTION_PROMPT

    # A LoRA run is the base with the adapter on top; a full fine-tune is a model of its own.
    is_adapter = (aligned / "adapter_config.json").is_file()
    aligned_model, adapter = (base, str(aligned)) if is_adapter else (str(aligned), None)
    rows: dict[str, dict[str, Any]] = {}
    work = aligned / "world_eval"
    for label in ("base", method):
        rows[label] = {}
        for split in HELDOUT_SPLITS:
            # The base's captions are kept with the base (rebuilt with it) and reused by later runs.
            out = (assets.base / "eval" / split) if label == "base" else work / split
            config = ChairConfig(
                benchmark="chair", model=base if label == "base" else aligned_model,
                adapter=None if label == "base" else adapter,
                instances_file=str(assets.root / "coco" / f"instances_{split}.json"),
                synonyms_file=str(assets.root / "synonyms.json"), media_root=str(assets.root),
                num_images=HELDOUT_SCENES, prompt=CAPTION_PROMPT, max_new_tokens=CAPTION_TOKENS,
                batch_size=50, max_samples=samples, output_dir=str(out), overwrite=label != "base", dtype="float32",
            )
            rows[label][split] = run_eval(config, show=False)
    divergence = DivergenceConfig(
        benchmark="divergence", model=aligned_model, adapter=adapter, base_model=None if is_adapter else base, ref_file=str(assets.heldout_captions), media_root=str(assets.root),
        batch_size=50, output_dir=str(work / "divergence"), overwrite=True, dtype="float32",
    )  # all 400 held-out captions, whatever ``samples``: scoring them takes about a second
    kl = run_eval(divergence, show=False).get("kl_per_token")
    if not PartialState().is_main_process:
        return {}
    result = {"method": method, "samples_per_split": min(samples or HELDOUT_SCENES, HELDOUT_SCENES), "kl_per_token": kl,
              "models": {label: {split.removeprefix("heldout_"): _metrics(m) for split, m in splits.items()}
                         for label, splits in rows.items()}}
    table = comparison_table(result)
    (aligned / "world_comparison.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (aligned / "world_comparison.md").write_text(table + "\n", encoding="utf-8")
    print("\n" + table + "\n")
    return result


def _metrics(m: dict[str, Any]) -> dict[str, float]:
    return {k: float(m[k]) for k in ("chair_s", "chair_i", "recall")}


def comparison_table(result: dict[str, Any]) -> str:
    """Markdown: one row per model, CHAIRs / CHAIRi / recall on each held-out split, KL to base."""
    head = ("| model | usual CHAIRs | usual CHAIRi | usual recall | unusual CHAIRs | unusual CHAIRi "
            "| unusual recall | token KL to base |")
    lines = [f"Held-out world scenes ({result['samples_per_split']} usual, {result['samples_per_split']} "
             "unusual), greedy captions, CHAIR in %:", "", head, "|---" * 8 + "|"]
    for label, splits in result["models"].items():
        kl = 0.0 if label == "base" else result["kl_per_token"]
        cells = [f"{splits[s][k]:.1f}" for s in ("usual", "unusual") for k in ("chair_s", "chair_i", "recall")]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {kl:.4f} |")
    base, aligned = result["models"]["base"]["unusual"], result["models"][result["method"]]["unusual"]
    if base["chair_i"] > 0:
        change = 100.0 * (aligned["chair_i"] - base["chair_i"]) / base["chair_i"]
        lines += ["", f"unusual CHAIRi {base['chair_i']:.1f} → {aligned['chair_i']:.1f} ({change:+.0f} % relative)"]
    return "\n".join(lines)
