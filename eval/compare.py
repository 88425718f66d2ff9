"""Runs side by side: ``python -m mmalign.evaluate compare runs=BASE,ALIGNED[,...]``.

Prints one markdown table (a metric per row, a run per column, then each later run's difference
from the first) and writes a grouped bar chart (matplotlib, Agg backend: no display needed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmalign.errors import ConfigError

from .results import LOWER_IS_BETTER, flatten, fmt, load_results, markdown_table


@dataclass
class CompareConfig:
    runs: Any = None  # "A,B" or a list: result files or run directories
    labels: Any = None  # "base,aligned" or a list; default: adapter or model names
    output: str | None = None  # chart path; default: compare.png beside the first run
    metrics: Any = None  # only these metrics (comma list); default: every metric the runs share
    recipe: str | None = None


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _label(result: dict[str, Any]) -> str:
    name = result.get("adapter") or result.get("model") or Path(result["_path"]).parent.name
    return Path(str(name).rstrip("/")).name


def compare(config: CompareConfig) -> tuple[str, Path]:
    """The comparison table (markdown) and the chart's path."""
    runs = _split(config.runs)
    if len(runs) < 2:
        raise ConfigError("compare needs at least two runs: runs=BASE_DIR,ALIGNED_DIR")
    results = [load_results(run) for run in runs]
    labels = _split(config.labels) or [_label(r) for r in results]
    if len(labels) != len(results):
        raise ConfigError(f"{len(labels)} labels for {len(results)} runs")
    benchmarks = {r.get("benchmark") for r in results}
    if len(benchmarks) > 1:
        raise ConfigError(f"the runs are of different benchmarks ({', '.join(sorted(map(str, benchmarks)))})")
    flat = [flatten(r["metrics"]) for r in results]
    wanted = _split(config.metrics)
    names = [n for n in flat[0] if all(n in f for f in flat[1:])] if not wanted else wanted
    missing = [n for n in names if not all(n in f for f in flat)]
    if missing or not names:
        raise ConfigError(f"metric(s) {', '.join(missing) or '(none shared)'} not in every run")
    headers = ["metric", *labels] + [f"{label} − {labels[0]}" for label in labels[1:]]
    rows = []
    for name in names:
        arrow = " ↓" if name.split(".")[-1] in LOWER_IS_BETTER else ""
        values = [f[name] for f in flat]
        counts = all(isinstance(v, int) for v in values)
        rows.append([name + arrow, *map(fmt, values)] + [f"{v - values[0]:+d}" if counts else f"{v - values[0]:+.2f}" for v in values[1:]])
    table = f"### {results[0].get('benchmark')}\n\n" + markdown_table(headers, rows)
    output = Path(config.output) if config.output else Path(results[0]["_path"]).parent / "compare.png"
    charted = [n for n in names if not _is_count(n)] or names
    plot(charted, labels, [[f[n] for n in charted] for f in flat], output, str(results[0].get("benchmark")))
    return table, output


def _is_count(name: str) -> bool:
    """Counts (items, unparseable answers, tokens) are tabled but not charted beside percentages."""
    last = name.split(".")[-1]
    return last in ("n", "unparseable") or last.startswith("num_")


def plot(names: list[str], labels: list[str], values: list[list[float]], output: Path, title: str) -> Path:
    """A grouped bar chart: one group per metric, one bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) * len(labels) / 2 + 2), 4.5))
    for i, (label, row) in enumerate(zip(labels, values)):
        xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(names))]
        bars = ax.bar(xs, row, width, label=label)
        ax.bar_label(bars, labels=[fmt(v) for v in row], fontsize=7, padding=2)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n + (" ↓" if n.split(".")[-1] in LOWER_IS_BETTER else "") for n in names], rotation=30, ha="right")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.margins(y=0.15)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=120)
    plt.close(fig)
    return output
