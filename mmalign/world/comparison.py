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
    from accelerate import PartialState

    from mmalign.eval.benchmarks.chair import ChairConfig
    from mmalign.eval.benchmarks.divergence import DivergenceConfig
    from mmalign.eval.predictions import fingerprint_differences
    from mmalign.eval.runner import run as run_eval

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
            if label == "base" and fingerprint_differences(out, dataclasses.asdict(config)):
                config.overwrite = True  # made by an earlier version with other settings: caption again
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
