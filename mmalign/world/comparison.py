"""The embedded experiment's comparison: does alignment lower the world's hallucination, and how far
does it move the model from its base?

After ``python -m mmalign.train recipe=tiny`` (``compare_on_world: true``), :func:`compare_on_world`
captions the held-out usual and unusual scenes with the base and the aligned model, scores them with
the CHAIR evaluator (``mmalign.eval.benchmarks.chair`` with the world's synonym table), measures the
token KL of the aligned model from its base on held-out captions
(``mmalign.eval.benchmarks.divergence``), and prints the side-by-side table (also written to
``world_comparison.json`` / ``.md`` in the output folder).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .assets import HELDOUT_SCENES, HELDOUT_SPLITS, WorldAssets
from .scenes import CAPTION_PROMPT

CAPTION_TOKENS = 48  # world captions are 10–25 tokens


def compare_on_world(assets: WorldAssets, base: str, aligned: Path, method: str, samples: int | None = None) -> dict[str, Any]:
    """CHAIR on held-out usual and unusual scenes for the base and the aligned model, and the
    aligned model's token KL from its base; prints the table and writes it beside the model.

    Under ``accelerate launch`` every process calls this and answers its share of the scenes; the
    main process scores, prints and returns the result, the others return an empty dict.
    """
    from mmalign.eval.benchmarks.chair import ChairConfig
    from mmalign.eval.benchmarks.divergence import DivergenceConfig

    def captions(split: str, model: str, adapter: str | None, out: Path) -> ChairConfig:
        return ChairConfig(
            benchmark="chair", model=model, adapter=adapter,
            instances_file=str(assets.root / "coco" / f"instances_{split}.json"),
            synonyms_file=str(assets.root / "synonyms.json"), media_root=str(assets.root),
            num_images=HELDOUT_SCENES, prompt=CAPTION_PROMPT, max_new_tokens=CAPTION_TOKENS,
            batch_size=50, max_samples=samples, output_dir=str(out), dtype="float32",
        )

    def divergence(model: str, adapter: str | None, base_model: str | None, out: Path) -> DivergenceConfig:
        # all 400 held-out captions, whatever ``samples``: scoring them takes about a second
        return DivergenceConfig(
            benchmark="divergence", model=model, adapter=adapter, base_model=base_model,
            ref_file=str(assets.heldout_captions), media_root=str(assets.root),
            batch_size=50, output_dir=str(out), overwrite=True, dtype="float32",
        )

    rows, kl = score_base_and_aligned(assets.base, base, aligned, method, captions, divergence)
    if rows is None:
        return {}
    result = {"method": method, "samples_per_split": min(samples or HELDOUT_SCENES, HELDOUT_SCENES), "kl_per_token": kl,
              "models": {label: {split.removeprefix("heldout_"): _metrics(m) for split, m in splits.items()}
                         for label, splits in rows.items()}}
    return publish(aligned, result, comparison_table(result))


def score_base_and_aligned(
    base_dir: Path,
    base: str,
    aligned: Path,
    method: str,
    split_config: Callable[[str, str, str | None, Path], Any],
    divergence_config: Callable[[str, str | None, str | None, Path], Any],
) -> tuple[dict[str, dict[str, dict[str, Any]]] | None, float | None]:
    """The benchmark ``split_config(split, model, adapter, output_dir)`` on each held-out split for
    the base and the aligned model, and ``divergence_config(model, adapter, base_model, output_dir)``'s
    token KL; ``(rows[label][split] = metrics, kl)`` on the main process, ``(None, None)`` elsewhere.

    The base's outputs are kept with the base (``base_dir``, rebuilt with it) and reused by later
    runs, unless they were made with other settings (an earlier version's defaults): then the base
    answers again. The aligned model's go to ``aligned/world_eval``, made afresh each time."""
    from accelerate import PartialState

    from mmalign.eval.predictions import fingerprint_differences
    from mmalign.eval.runner import run as run_eval

    # A LoRA run is the base with the adapter on top; a full fine-tune is a model of its own.
    is_adapter = (aligned / "adapter_config.json").is_file()
    aligned_model, adapter = (base, str(aligned)) if is_adapter else (str(aligned), None)
    work = aligned / "world_eval"
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for label in ("base", method):
        rows[label] = {}
        for split in HELDOUT_SPLITS:
            if label == "base":
                out = base_dir / "eval" / split
                config = split_config(split, base, None, out)
                config.overwrite = bool(fingerprint_differences(out, dataclasses.asdict(config)))
            else:
                config = split_config(split, aligned_model, adapter, work / split)
                config.overwrite = True
            rows[label][split] = run_eval(config, show=False)
    divergence = divergence_config(aligned_model, adapter, None if is_adapter else base, work / "divergence")
    kl = run_eval(divergence, show=False).get("kl_per_token")
    if not PartialState().is_main_process:
        return None, None
    return rows, kl


def publish(aligned: Path, result: dict[str, Any], table: str) -> dict[str, Any]:
    """Write the comparison beside the aligned model (``world_comparison.json`` / ``.md``) and print it."""
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
