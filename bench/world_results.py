"""Base vs DPA, RRPO, DPO and TDPO on the procedural worlds, over a few seeds: the embedded
experiments (``python -m mmalign.train recipe=tiny`` for images, ``recipe=tiny_video`` for videos)
run for every method.

    python bench/world_results.py [--seeds 0 1 2] [--methods dpa rrpo dpo tdpo] [--results bench/RESULTS.md]
    python bench/world_results.py --world video [--methods rrpo rrpo_seqreward rrpo_nokl dpo dpa tdpo] ...

For each seed, every method trains the world's base model (``world://base``, built for that seed)
with the ``tiny`` recipe's settings (LoRA, learning rate, steps, batch), its own loss settings taken
from the paper recipes (DPA α=0.4; DPO β=0.1; TDPO β=0.1, α=0.5 (TDPO2); RRPO α=0.01, β=0.1), and
the recipe's comparison on held-out usual and unusual scenes (CHAIR with the world's synonym table,
token KL to the base). DPA, DPO and TDPO train on the ``halva_world`` pairs; RRPO on self-alignment
pairs the ``selfalign`` pipeline builds by letting the base model caption training scenes, intact
and perturbed (``recipes/gen/selfalign_world.yaml``). The script prints a markdown table of
mean ± standard deviation over the seeds, appends it to ``--results`` with a chart (PNG beside it),
and keeps every run's ``world_comparison.json`` under ``--work`` (started again, the script reuses
the runs that finished; ``--overwrite`` trains them again).

``--world video``: every method trains the video world's base (``world://video_base``) with the
``tiny_video`` recipe's settings on the same self-alignment pairs, the base's own mistakes on
original and perturbed training clips (``world://video_pairs``), as the RRPO paper trains its
baselines on its self-alignment data; loss settings from the paper recipes (RRPO α=0.01, β=0.1,
and its two ablations: a sequence-level reward, no token-wise KL; DPO β=0.1; DPA α=0.4, its KL on
the preferred response since the world has no reference set; TDPO2 β=0.1, α=0.5). The table
gives multiple-choice accuracy on held-out usual and unusual clips and the token KL to the base.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: loss settings per method, from recipes/halva_llava7b.yaml, dpo_llava7b.yaml, rrpo_llava_video7b.yaml
#: and TDPO's defaults; everything else comes from recipes/tiny.yaml
METHOD_KEYS = {
    "dpa": {"alpha": 0.4},
    "dpo": {"beta": 0.1},
    "tdpo": {"beta": 0.1, "alpha": 0.5, "variant": "tdpo2"},
    "rrpo": {"alpha": 0.01, "beta": 0.1},
    "rrpo_seqreward": {"alpha": 0.01, "beta": 0.1},
    "rrpo_nokl": {"beta": 0.1},
}
#: the video world's RRPO and its ablations take the paper's LongVU-7B settings, as recipes/tiny_video.yaml
#: does (its LLaVA-Video-7B ones, alpha=0.01, let the aligned model drift from usual answers there)
VIDEO_KEYS = {**METHOD_KEYS, "rrpo": {"alpha": 0.05, "beta": 0.5}, "rrpo_seqreward": {"alpha": 0.05, "beta": 0.5},
              "rrpo_nokl": {"beta": 0.5}}
RECIPES = {"image": "tiny", "video": "tiny_video"}
DEFAULT_METHODS = {"image": ["dpa", "rrpo", "dpo", "tdpo"],
                   "video": ["rrpo", "rrpo_seqreward", "rrpo_nokl", "dpo", "dpa", "tdpo"]}
COLUMNS = [("usual", "chair_s"), ("usual", "chair_i"), ("usual", "recall"),
           ("unusual", "chair_s"), ("unusual", "chair_i"), ("unusual", "recall")]


def method_recipe(method: str, work: Path, world: str = "image") -> Path:
    """The world's recipe (recipes/tiny.yaml or tiny_video.yaml) with the method and its loss keys
    in place of the recipe's own."""
    name = RECIPES[world]
    recipe = yaml.safe_load((ROOT / "recipes" / f"{name}.yaml").read_text())
    for key in ("alpha", "beta", "variant"):
        recipe.pop(key, None)
    recipe.update(method=method, **(VIDEO_KEYS if world == "video" else METHOD_KEYS)[method])
    path = work / f"{name}_{method}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def selfalign_pairs(seed: int, work: Path, max_items: int) -> Path:
    """RRPO's pairs for the world of ``seed``: the base model's own captions (resumable)."""
    from mmalign.world.assets import prepare_world

    assets = prepare_world(seed)
    out = work / f"seed-{seed}" / "selfalign.jsonl"
    run([sys.executable, "-m", "mmalign.gen_pairs", "recipe=selfalign_world", f"model={assets.base}",
         f"input_file={assets.root / 'selfalign_questions.jsonl'}", f"media_root={assets.root}",
         f"synonyms_file={assets.root / 'synonyms.json'}", f"output_file={out}", f"seed={seed}",
         f"max_items={max_items}"])
    return out


def train(method: str, seed: int, work: Path, extra: list[str], overwrite: bool = False, world: str = "image") -> dict:
    """One method on one seed; a finished run (its ``world_comparison.json``) is reused, so a
    killed script started again does only what is missing."""
    out = work / f"seed-{seed}" / method
    done = out / "world_comparison.json"
    if done.is_file() and not overwrite:
        return json.loads(done.read_text())
    args = [sys.executable, "-m", "mmalign.train", f"recipe={method_recipe(method, work, world)}", f"seed={seed}",
            f"output_dir={out}", "disable_tqdm=true", *extra]
    if method == "rrpo" and world == "image":
        from mmalign.world.assets import prepare_world

        # the pairs' image paths are relative to the world's folder, like every file the world writes
        args += [f"train_file={selfalign_pairs(seed, work, 4000)}", f"media_root={prepare_world(seed).root}"]
    started = time.perf_counter()
    run(args)
    result = json.loads(done.read_text())
    result["wall_s"] = time.perf_counter() - started
    done.write_text(json.dumps(result, indent=2) + "\n")
    return result


def run(args: list[str]) -> None:
    print("$", " ".join(a if " " not in a else repr(a) for a in args[1:]), flush=True)
    proc = subprocess.run(args, cwd=ROOT, text=True, capture_output=True)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def method_label(method: str) -> str:
    """How tables and charts name a method: its model-card name (``mmalign.hub.PAPERS``)."""
    from mmalign.hub import PAPERS

    return PAPERS[method][0]


def mean_sd(values: list[float], signed: bool = False) -> str:
    """``mean ± sd`` to one decimal; ``signed`` writes the mean's sign (a change from the base)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{'+' if signed else ''}.1f} ± {sd:.1f}"


def table(results: dict[str, list[dict]]) -> str:
    """Markdown: mean ± sd over seeds per model, and unusual CHAIRi relative to the base."""
    head = ["model", *[f"{split} {name.replace('chair_s', 'CHAIRs').replace('chair_i', 'CHAIRi')}" for split, name in COLUMNS],
            "unusual CHAIRi vs base", "token KL to base (×10⁻³)"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    any_run = next(iter(results.values()))
    base_rows = [r["models"]["base"] for r in any_run]
    lines.append("| base | " + " | ".join(mean_sd([b[s][k] for b in base_rows]) for s, k in COLUMNS) + " | – | 0 |")
    for method, runs in results.items():
        rows = [r["models"][method] for r in runs]
        relative = [100.0 * (r[method]["unusual"]["chair_i"] - r["base"]["unusual"]["chair_i"]) / r["base"]["unusual"]["chair_i"]
                    for r in (x["models"] for x in runs)]
        kl = [1e3 * r["kl_per_token"] for r in runs]
        lines.append(f"| {method_label(method)} | " + " | ".join(mean_sd([m[s][k] for m in rows]) for s, k in COLUMNS)
                     + f" | {mean_sd(relative, signed=True)} % | {mean_sd(kl)} |")
    return "\n".join(lines)


def chart(results: dict[str, list[dict]], output: Path) -> Path:
    from mmalign.eval.compare import plot

    columns = [("unusual", "chair_s"), ("unusual", "chair_i"), ("unusual", "recall"), ("usual", "recall")]
    rows = [("base", "base", next(iter(results.values())))] + [(method_label(m), m, runs) for m, runs in results.items()]
    labels = [label for label, _, _ in rows]
    values = [[statistics.mean(r["models"][key][split][name] for r in runs) for split, name in columns]
              for _, key, runs in rows]
    names = [f"{split}.{name}" for split, name in columns]
    return plot(names, labels, values, output, "Procedural world, held-out scenes (mean over seeds)")


def video_table(results: dict[str, list[dict]]) -> str:
    """Markdown: mean ± sd over seeds per model of the held-out accuracies, the unusual-clip change
    from the base in points, and the token KL to the base."""
    from mmalign.world.video import TASKS

    head = ["model", "usual accuracy", "unusual accuracy", *[f"unusual {t.replace('_', ' ')}" for t in TASKS],
            "unusual vs base (points)", "usual vs base (points)", "token KL to base (×10⁻³)"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]

    def cells(models: list[dict]) -> list[str]:
        return [mean_sd([m["usual"]["accuracy"] for m in models]), mean_sd([m["unusual"]["accuracy"] for m in models]),
                *[mean_sd([m["unusual"]["groups"][t] for m in models]) for t in TASKS]]

    any_run = next(iter(results.values()))
    lines.append("| base | " + " | ".join(cells([r["models"]["base"] for r in any_run])) + " | – | – | 0 |")
    for method, runs in results.items():
        models = [r["models"] for r in runs]
        gain = {split: [m[method][split]["accuracy"] - m["base"][split]["accuracy"] for m in models] for split in ("unusual", "usual")}
        kl = [1e3 * r["kl_per_token"] for r in runs]
        lines.append(f"| {method_label(method)} | " + " | ".join(cells([m[method] for m in models]))
                     + f" | {mean_sd(gain['unusual'], signed=True)} | {mean_sd(gain['usual'], signed=True)} | {mean_sd(kl)} |")
    return "\n".join(lines)


def video_chart(results: dict[str, list[dict]], output: Path) -> Path:
    from mmalign.eval.compare import plot

    from mmalign.world.video import TASKS

    columns = [("usual", None), ("unusual", None), *[("unusual", t) for t in TASKS]]
    rows = [("base", "base", next(iter(results.values())))] + [(method_label(m), m, runs) for m, runs in results.items()]

    def value(model: dict, split: str, task: str | None) -> float:
        return model[split]["accuracy"] if task is None else model[split]["groups"][task]

    values = [[statistics.mean(value(r["models"][key], split, task) for r in runs) for split, task in columns]
              for _, key, runs in rows]
    names = [f"{split}.{task or 'accuracy'}" for split, task in columns]
    return plot(names, [label for label, _, _ in rows], values, output,
                "Video world, held-out clips: multiple-choice accuracy (mean over seeds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", choices=sorted(RECIPES), default="image")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=None, choices=sorted(METHOD_KEYS),
                        help="default: dpa rrpo dpo tdpo (image); rrpo rrpo_seqreward rrpo_nokl dpo dpa tdpo (video)")
    parser.add_argument("--work", default=None, help="default: outputs/world_results (image), outputs/video_world_results (video)")
    parser.add_argument("--results", default=None, help="append the table and chart to this markdown file")
    parser.add_argument("--overwrite", action="store_true", help="train again runs that already finished")
    parser.add_argument("extra", nargs="*", help="key=value overrides for every training run")
    args = parser.parse_args()
    video = args.world == "video"
    methods = args.methods or DEFAULT_METHODS[args.world]
    work = Path(args.work or ROOT / "outputs" / ("video_world_results" if video else "world_results"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {m: [] for m in methods}
    started = time.perf_counter()
    for seed in args.seeds:
        for method in methods:
            results[method].append(train(method, seed, work, args.extra, args.overwrite, args.world))
            r = results[method][-1]
            if video:
                base, aligned = r["models"]["base"], r["models"][method]
                print(f"seed {seed} {method}: unusual accuracy {base['unusual']['accuracy']:.1f} → {aligned['unusual']['accuracy']:.1f}, "
                      f"usual {base['usual']['accuracy']:.1f} → {aligned['usual']['accuracy']:.1f}, KL {r['kl_per_token']:.2e} "
                      f"({r.get('wall_s', 0):.0f} s)", flush=True)
            else:
                print(f"seed {seed} {method}: unusual CHAIRi {r['models']['base']['unusual']['chair_i']:.1f} → "
                      f"{r['models'][method]['unusual']['chair_i']:.1f}, KL {r['kl_per_token']:.2e} ({r.get('wall_s', 0):.0f} s)", flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    text = video_table(results) if video else table(results)
    print("\n" + text)
    if args.results:
        results_md = Path(args.results)
        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"
        minutes = (time.perf_counter() - started) / 60
        seeds = " ".join(map(str, args.seeds))
        if video:
            png = video_chart(results, results_md.with_name("video_world_results.png"))
            n = next(iter(results.values()))[0]["samples_per_split"]
            section = (f"\n## Video world: base vs aligned — {date.today().isoformat()}\n\n"
                       f"`python bench/world_results.py --world video --seeds {seeds}` on {machine} ({minutes:.0f} min in "
                       f"this invocation; finished runs are reused). Held-out clips, {n} usual and {n} unusual per seed, one "
                       f"multiple-choice question each, greedy answers; accuracy in %, mean ± sd over seeds "
                       f"{', '.join(map(str, args.seeds))}; token KL of the aligned model from its base on the held-out "
                       f"clips' true answers and captions.\n\n{text}\n\n![video world results]({png.name})\n")
        else:
            png = chart(results, results_md.with_name("world_results.png"))
            section = (f"\n## Procedural world: base vs aligned — {date.today().isoformat()}\n\n"
                       f"`python bench/world_results.py --seeds {seeds}` on {machine} "
                       f"({minutes:.0f} min in this invocation; finished runs are reused). Held-out scenes, 200 usual and 200 unusual per "
                       f"seed, greedy captions; CHAIR in %, mean ± sd over seeds {', '.join(map(str, args.seeds))}; "
                       f"token KL of the aligned model from its base on the held-out true captions.\n\n{text}\n\n"
                       f"![world results]({png.name})\n")
        with results_md.open("a", encoding="utf-8") as f:
            f.write(section)
        print(f"appended to {results_md}; chart {png}")


if __name__ == "__main__":
    main()
