"""What every pipeline provides to the runner: a plan of work items, and an async ``process``."""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mmalign.data.media import check_image, resolve_media_path
from mmalign.errors import DataError

from .backends import LLM, Rejected, ReplyCache, Sampling, make_backend
from .config import GenConfig
from .stats import RunStats

logger = logging.getLogger("mmalign.data_gen")


@dataclass
class WorkItem:
    """One unit of work (an image, a question, a preference record), with a stable id."""

    id: str
    payload: Any
    source: str = ""


@dataclass
class Outcome:
    pairs: list[dict] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # one reason per pair that could not be made

    def reject(self, reason: str, detail: str = "") -> None:
        self.rejected.append(reason)
        if detail:
            logger.debug("%s: %s", reason, detail)


class Pipeline(ABC):
    name = "pipeline"

    def __init__(self, config: GenConfig, stats: RunStats):
        self.config = config
        self.stats = stats
        self.llm: LLM | None = None

    @abstractmethod
    def plan(self) -> list[WorkItem]:
        """Read the inputs (raising :class:`DataError` for what stops the run) and list the items,
        in a fixed order."""

    async def start(self) -> None:
        """Build the LLM (inside the event loop that will use it)."""
        backend = make_backend(self.config, self.stats.llm)
        if backend is not None:
            sampling = Sampling(self.config.temperature, self.config.top_p, self.config.max_tokens, self.config.seed)
            self.llm = LLM(backend, ReplyCache(self.config.cache_path()), sampling, self.config.max_reasks,
                           self.stats.llm)

    @abstractmethod
    async def process(self, item: WorkItem) -> Outcome: ...

    async def close(self) -> None:
        if self.llm is not None:
            await self.llm.backend.aclose()
            self.llm.cache.close()

    def rng(self, item: WorkItem) -> random.Random:
        """The item's own random stream: the same whatever the shard, order or resume."""
        return random.Random(f"{self.config.seed}:{item.id}")

    def check_image(self, image: str, item: WorkItem) -> None:
        """Raise :class:`Rejected` (``unreadable_media``, logged in one line) for a bad image."""
        if not self.config.check_media:
            return
        try:
            check_image(resolve_media_path(image, self.config.media_root, source=item.source, record_id=item.id),
                        source=item.source, record_id=item.id)
        except DataError as err:
            logger.warning("%s; skipped", err)
            raise Rejected("unreadable_media", str(err)) from None


def count(values: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))
