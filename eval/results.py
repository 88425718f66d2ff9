"""One result file per run: ``results.json`` (metrics, the full configuration, model and adapter,
package version, git commit, time) and ``results.md`` (the metrics as a markdown table)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mmalign
from mmalign.redact import redact_values

#: Metrics where lower is better (matched on the last part of a dotted metric name).
LOWER_IS_BETTER = {"chair_s", "chair_i", "chair", "hal", "cog", "hallucination_rate", "kl_per_token", "kl_per_sample", "unparseable"}


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested metrics → ``{"random.f1": 85.1, ...}``; only numbers are kept."""
    flat: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = value
    return flat


def fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.2f}"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def git_commit(start: Path | None = None) -> str | None:
    """The commit checked out in the repository holding this package, read from ``.git`` (no
    subprocess); ``None`` outside a git checkout."""
    here = (start or Path(mmalign.__file__)).resolve()
    for folder in [here, *here.parents]:
        git = folder / ".git"
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = (folder / git.read_text().split(":", 1)[1].strip()).resolve()
        if not git.is_dir():
            continue
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head
        ref = head.split(":", 1)[1].strip()
        common = git / "commondir"
        roots = [git] + ([(git / common.read_text().strip()).resolve()] if common.is_file() else [])
        for root in roots:
            if (root / ref).is_file():
                return (root / ref).read_text().strip()
            packed = root / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(" " + ref):
                        return line.split()[0]
        return None
    return None


def write_results(output_dir: Path, config: Any, metrics: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``results.json`` and ``results.md`` into ``output_dir``; returns the JSON path."""
    values = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    result = {
        "benchmark": values.get("benchmark"),
        "model": values.get("model"),
        "adapter": values.get("adapter"),
        "metrics": dict(metrics),
        "mmalign_version": mmalign.__version__,
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": redact_values(values),
        **dict(extra or {}),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "results.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    title = f"{result['benchmark']}: {result['model']}" + (f" + {result['adapter']}" if result["adapter"] else "")
    rows = [[name, fmt(value)] for name, value in flatten(metrics).items()]
    (output_dir / "results.md").write_text(f"### {title}\n\n" + markdown_table(["metric", "value"], rows), encoding="utf-8")
    return path


def load_results(path: str | Path) -> dict[str, Any]:
    """A run's ``results.json`` (``path`` is the file or the run's output directory)."""
    from mmalign.data.jsonio import read_json
    from mmalign.errors import DataError

    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "results.json"
    if not p.is_file():
        raise DataError(f"no results file at {p} (has that evaluation finished?)")
    data = read_json(p, "results file")
    if not isinstance(data, dict) or "metrics" not in data:
        raise DataError(f"{p} is not an evaluation results file (no 'metrics')")
    data["_path"] = str(p)
    return data
