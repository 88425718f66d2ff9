"""Base vs aligned on the video world's held-out clips (``recipe=tiny_video`` with
``compare_on_world: true``): the base and the aligned model answer the held-out usual and unusual
clips' multiple-choice questions through the project's video multiple-choice evaluator
(``mmalign.eval.benchmarks.video_mc``, the TVBench/MVBench layout); the aligned model's token KL from
its base is measured on the held-out clips' true answers and captions
(``mmalign.eval.benchmarks.divergence``); the side-by-side table is printed and written to
``world_comparison.json`` / ``.md`` in the output folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .video_assets import VideoWorldAssets


def compare_on_video_world(assets: VideoWorldAssets, base: str, aligned: Path, method: str,
                           samples: int | None = None) -> dict[str, Any]:
    """Multiple-choice accuracy on held-out usual and unusual clips for the base and the aligned
    model, and the aligned model's token KL from its base; prints the table and writes it beside
    the model. Under ``accelerate launch`` every process answers its share; the main process
    scores, prints and returns the result, the others return an empty dict."""
    from mmalign.eval.benchmarks.divergence import DivergenceConfig
    from mmalign.eval.benchmarks.video_mc import VideoMCConfig

    from .comparison import publish, score_base_and_aligned
    from .video_writer import VideoWorldPaths

    paths = VideoWorldPaths(assets.root)
    frames = paths.manifest()["config"]["num_frames"]

    def answers(split: str, model: str, adapter: str | None, out: Path) -> VideoMCConfig:
        return VideoMCConfig(
            benchmark="tvbench", model=model, adapter=adapter, annotation=str(paths.mc_dir(split)),
            media_root=str(assets.root), num_frames=frames, batch_size=50, max_samples=samples,
            output_dir=str(out), dtype="float32",
        )

    def divergence(model: str, adapter: str | None, base_model: str | None, out: Path) -> DivergenceConfig:
        # every held-out clip, whatever ``samples``
        return DivergenceConfig(
            benchmark="divergence", model=model, adapter=adapter, base_model=base_model,
            ref_file=str(assets.heldout_conversations), media_root=str(assets.root), num_frames=frames,
            batch_size=50, output_dir=str(out), overwrite=True, dtype="float32",
        )

    rows, kl = score_base_and_aligned(assets.base, base, aligned, method, answers, divergence)
    if rows is None:
        return {}
    result = {"world": "video", "method": method, "kl_per_token": kl,
              "samples_per_split": rows["base"]["heldout_usual"]["n"],
              "models": {label: {split.removeprefix("heldout_"): _metrics(m) for split, m in splits.items()}
                         for label, splits in rows.items()}}
    return publish(aligned, result, comparison_table(result))


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
