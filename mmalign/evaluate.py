"""``python -m mmalign.evaluate benchmark=NAME model=ID [adapter=PATH] [key=value ...]``
(or ``recipe=NAME``; ``accelerate launch -m mmalign.evaluate ...`` shards the items over GPUs), and
``python -m mmalign.evaluate compare runs=BASE,ALIGNED`` to put runs side by side.
"""

from __future__ import annotations

import sys

from .cli import run_cli
from .config import build_config, list_recipes, load_values

USAGE = """usage: [accelerate launch] python -m mmalign.evaluate recipe=NAME|benchmark=NAME model=ID [adapter=PATH] [key=value ...]
       python -m mmalign.evaluate compare runs=BASE_DIR,ALIGNED_DIR [labels=base,aligned] [output=chart.png]

Runs a benchmark on a model (and optionally a PEFT adapter on it), appending each answer to
OUTPUT_DIR/predictions.jsonl as it comes (a killed run resumes where it stopped), then writes
OUTPUT_DIR/results.json and results.md. Examples:
  python -m mmalign.evaluate recipe=pope output_dir=runs/pope-base
  python -m mmalign.evaluate recipe=pope adapter=outputs/halva_llava7b output_dir=runs/pope-halva
  python -m mmalign.evaluate compare runs=runs/pope-base,runs/pope-halva labels=base,halva
  python -m mmalign.evaluate benchmark=chair model=ID instances_file=coco/instances_val2014.json media_root=coco/val2014

benchmarks: {benchmarks}
recipes (recipes/eval/): {recipes}
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or any(a in ("-h", "--help", "help") for a in argv):
        from mmalign.eval.benchmarks import BENCHMARKS

        print(USAGE.format(benchmarks=", ".join(BENCHMARKS), recipes=", ".join(list_recipes("eval"))))
        return 0
    if argv[0] == "compare":
        return run_cli("mmalign.evaluate compare", _compare, argv[1:])
    return run_cli("mmalign.evaluate", _evaluate, argv)


def _evaluate(argv: list[str]) -> None:
    from mmalign.eval.runner import load_eval_config, run

    run(load_eval_config(argv))


def _compare(argv: list[str]) -> None:
    from mmalign.eval.compare import CompareConfig, compare

    table, chart = compare(build_config(CompareConfig, load_values(argv, "eval")))
    print(table)
    print(f"chart: {chart}")


if __name__ == "__main__":
    sys.exit(main())
