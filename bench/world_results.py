"""Base vs DPA, RRPO, DPO and TDPO on the procedural world, over a few seeds: the embedded
experiment (``python -m mmalign.train recipe=tiny``) run for every method.

    python bench/world_results.py [--seeds 0 1 2] [--methods dpa rrpo dpo tdpo] [--results bench/RESULTS.md]

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
}
COLUMNS = [("usual", "chair_s"), ("usual", "chair_i"), ("usual", "recall"),
           ("unusual", "chair_s"), ("unusual", "chair_i"), ("unusual", "recall")]


def method_recipe(method: str, work: Path) -> Path:
    """recipes/tiny.yaml with the method and its loss keys in place of DPA's."""
    recipe = yaml.safe_load((ROOT / "recipes" / "tiny.yaml").read_text())
    for key in ("alpha", "beta", "variant"):
        recipe.pop(key, None)
    recipe.update(method=method, **METHOD_KEYS[method])
    path = work / f"tiny_{method}.yaml"
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


def train(method: str, seed: int, work: Path, extra: list[str], overwrite: bool = False) -> dict:
    """One method on one seed; a finished run (its ``world_comparison.json``) is reused, so a
    killed script started again does only what is missing."""
    out = work / f"seed-{seed}" / method
    done = out / "world_comparison.json"
    if done.is_file() and not overwrite:
        return json.loads(done.read_text())
    args = [sys.executable, "-m", "mmalign.train", f"recipe={method_recipe(method, work)}", f"seed={seed}",
            f"output_dir={out}", "disable_tqdm=true", *extra]
    if method == "rrpo":
        args.append(f"train_file={selfalign_pairs(seed, work, 4000)}")
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


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {sd:.1f}"


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
        lines.append(f"| {method.upper()} | " + " | ".join(mean_sd([m[s][k] for m in rows]) for s, k in COLUMNS)
                     + f" | {mean_sd(relative)} % | {mean_sd(kl)} |")
    return "\n".join(lines)


def chart(results: dict[str, list[dict]], output: Path) -> Path:
    from mmalign.eval.compare import plot

    columns = [("unusual", "chair_s"), ("unusual", "chair_i"), ("unusual", "recall"), ("usual", "recall")]
    rows = [("base", "base", next(iter(results.values())))] + [(m.upper(), m, runs) for m, runs in results.items()]
    labels = [label for label, _, _ in rows]
    values = [[statistics.mean(r["models"][key][split][name] for r in runs) for split, name in columns]
              for _, key, runs in rows]
    names = [f"{split}.{name}" for split, name in columns]
    return plot(names, labels, values, output, "Procedural world, held-out scenes (mean over seeds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["dpa", "rrpo", "dpo", "tdpo"], choices=sorted(METHOD_KEYS))
    parser.add_argument("--work", default=str(ROOT / "outputs" / "world_results"))
    parser.add_argument("--results", default=None, help="append the table and chart to this markdown file")
    parser.add_argument("--overwrite", action="store_true", help="train again runs that already finished")
    parser.add_argument("extra", nargs="*", help="key=value overrides for every training run")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    started = time.perf_counter()
    for seed in args.seeds:
        for method in args.methods:
            results[method].append(train(method, seed, work, args.extra, args.overwrite))
            r = results[method][-1]
            print(f"seed {seed} {method}: unusual CHAIRi {r['models']['base']['unusual']['chair_i']:.1f} → "
                  f"{r['models'][method]['unusual']['chair_i']:.1f}, KL {r['kl_per_token']:.2e} ({r.get('wall_s', 0):.0f} s)", flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    text = table(results)
    print("\n" + text)
    if args.results:
        results_md = Path(args.results)
        png = chart(results, results_md.with_name("world_results.png"))
        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"
        section = (f"\n## Procedural world: base vs aligned — {date.today().isoformat()}\n\n"
                   f"`python bench/world_results.py --seeds {' '.join(map(str, args.seeds))}` on {machine} "
                   f"({(time.perf_counter() - started) / 60:.0f} min in this invocation; finished runs are reused). Held-out scenes, 200 usual and 200 unusual per "
                   f"seed, greedy captions; CHAIR in %, mean ± sd over seeds {', '.join(map(str, args.seeds))}; "
                   f"token KL of the aligned model from its base on the held-out true captions.\n\n{text}\n\n"
                   f"![world results]({png.name})\n")
        with results_md.open("a", encoding="utf-8") as f:
            f.write(section)
        print(f"appended to {results_md}; chart {png}")


if __name__ == "__main__":
    main()
