"""Counts of a generation run: pairs accepted by kind, rejected by reason, input problems."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

logger = logging.getLogger("mmalign.data_gen")


class RunStats:
    """Accepted pairs per kind and rejections per reason (from the journal, so a resumed run
    reports the whole run), input problems met while reading, and this process's LLM counters."""

    def __init__(self, pipeline: str):
        self.pipeline = pipeline
        self.items = 0
        self.done = 0
        self.failed: Counter = Counter()
        self.accepted: Counter = Counter()
        self.rejected: Counter = Counter()
        self.input_problems: Counter = Counter()
        self.llm: Counter = Counter()

    def problem(self, reason: str, message: str) -> None:
        """A bad input record: one line in the log, counted under ``reason``."""
        logger.warning(message)
        self.input_problems[reason] += 1

    def add(self, entry: dict[str, Any]) -> None:
        """Count one journal entry (an item's outcome)."""
        self.done += 1
        self.accepted.update(entry.get("accepted", {}))
        self.rejected.update(entry.get("rejected", {}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "items": self.items,
            "items_done": self.done,
            "items_failed": dict(sorted(self.failed.items())),
            "pairs": sum(self.accepted.values()),
            "accepted": dict(sorted(self.accepted.items())),
            "rejected": dict(sorted(self.rejected.items())),
            "input_problems": dict(sorted(self.input_problems.items())),
            "llm_this_process": dict(sorted(self.llm.items())),
        }

    def write(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def summary(self) -> str:
        def fmt(counter: Counter) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"

        lines = [
            f"{self.pipeline}: {self.done}/{self.items} items done, {sum(self.accepted.values())} pairs",
            f"  accepted: {fmt(self.accepted)}",
            f"  rejected: {fmt(self.rejected)}",
        ]
        if self.input_problems:
            lines.append(f"  input problems: {fmt(self.input_problems)}")
        if self.failed:
            lines.append(f"  failed (retried on the next run): {fmt(self.failed)}")
        return "\n".join(lines)
