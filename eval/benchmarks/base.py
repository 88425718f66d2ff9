"""What a benchmark is to the runner: items to answer, and a scorer for the answers.

A *generative* benchmark gives :class:`Item` s (a prompt with images or a video); the runner has a
generation backend answer them and stores ``{"id", "prediction"}`` per item. A *scoring* benchmark
(the alignment diagnostics) computes its own per-item records from the model in :meth:`compute`.
Either way :meth:`Benchmark.score` turns the stored records into metrics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mmalign.data.media import resolve_media_path
from mmalign.errors import DataError

from ..config import EvalConfig

logger = logging.getLogger("mmalign.eval")

#: Unparseable answers named one per line before the rest are only counted.
MAX_LISTED = 10


@dataclass
class Item:
    """One question: ``images`` / ``video`` are resolved paths; ``source`` names the annotation file
    (and line) it came from, for error messages; ``meta`` holds what the scorer needs."""

    id: str
    prompt: str
    images: list[str] = field(default_factory=list)
    video: str | None = None
    video_span: tuple[float | None, float | None] | None = None
    max_new_tokens: int | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Benchmark:
    """Base class; subclasses set ``name``, ``config_cls`` and implement :meth:`load_items` and
    :meth:`score` (and :meth:`compute` when ``mode == "score"``)."""

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[EvalConfig]] = EvalConfig
    mode: ClassVar[str] = "generate"
    default_max_new_tokens: ClassVar[int] = 32
    default_prompt_suffix: ClassVar[str] = ""

    def __init__(self, config: EvalConfig):
        self.config = config
        self.unparseable_ids: list[str] = []
        self.predictions_file = "predictions.jsonl"

    def tracker(self, what: str, source: str | None = None, outcome: str = "scored as wrong") -> Unparseable:
        """Counts (and names, one line each) the answers from which ``what`` cannot be read."""
        return Unparseable(what, source or self.predictions_file, self.unparseable_ids, outcome)

    @property
    def max_new_tokens(self) -> int:
        return self.config.max_new_tokens or self.default_max_new_tokens

    @property
    def prompt_suffix(self) -> str:
        suffix = self.config.prompt_suffix
        return self.default_prompt_suffix if suffix is None else suffix

    def load_items(self) -> list[Item]:
        raise NotImplementedError

    def compute(self, runtime: Any, items: list[Item]) -> list[dict[str, Any]]:
        """Scoring benchmarks: one record (with ``id``) per item, from the loaded model."""
        raise NotImplementedError

    def score(self, items: list[Item], records: dict[str, dict[str, Any]], workdir: Path) -> dict[str, Any]:
        raise NotImplementedError

    # helpers --------------------------------------------------------------------------------------
    def media_path(self, name: str, root: str | Path | None = None) -> str:
        """``name`` resolved against ``root`` (default: ``media_root``, else the working directory)."""
        return str(resolve_media_path(name, root if root is not None else self.config.media_root))


class Unparseable:
    """Counts answers that could not be read and names the first few, one line each."""

    def __init__(self, what: str, source: str, ids: list[str] | None = None, outcome: str = "scored as wrong"):
        self.what, self.source, self.outcome = what, source, outcome
        self.ids = ids if ids is not None else []
        self.count = 0

    def add(self, item_id: str, text: str) -> None:
        self.ids.append(item_id)
        self.count += 1
        if len(self.ids) <= MAX_LISTED:
            shown = " ".join(str(text).split())
            shown = shown[:80] + ("…" if len(shown) > 80 else "")
            logger.warning("%s: item %r: cannot read %s from %r; %s", self.source, item_id, self.what, shown, self.outcome)


def require(record: dict, keys: tuple[str, ...], source: str, record_id: str | None = None) -> None:
    """Stop with one line when a benchmark record lacks a field its format has."""
    missing = [k for k in keys if k not in record]
    if missing:
        raise DataError(
            f"missing field {', '.join(repr(m) for m in missing)}: not this benchmark's format",
            source=source,
            record_id=record_id,
        )
