"""In-memory records: one preference pair, or one reference (general instruction) sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .tags import Span


@dataclass
class PairRecord:
    """A preference pair with aligned phrases (DESIGN.md §3–4).

    ``chosen``/``rejected`` are plain text; ``chosen_spans[k]`` pairs with ``rejected_spans[k]``.
    ``images`` holds paths (resolved against the media root when loaded) or PIL images.
    ``source`` is ``file:line`` (or ``dataset[index]``) for error messages.
    """

    id: str
    prompt: str
    chosen: str
    rejected: str
    chosen_spans: list[Span]
    rejected_spans: list[Span]
    images: list[Any] = field(default_factory=list)
    video: str | None = None
    kind: str | None = None
    source: str = "<memory>"
    answer: str | None = None  # the short ground-truth answer of a yes/no pair (official ``raw_answer``)

    @property
    def num_phrases(self) -> int:
        return len(self.chosen_spans)


@dataclass
class Conversation:
    """A general sample: alternating user/assistant turns; every assistant turn is scored.

    Used as DPA's reference sample for the token-wise KL term. ``turns`` is a list of
    ``(role, text)`` with roles ``user``/``assistant``; media placeholders (``<image>``,
    ``<video>``) in user turns mark where the media go.
    """

    id: str
    turns: list[tuple[str, str]]
    images: list[Any] = field(default_factory=list)
    video: str | None = None
    source: str = "<memory>"
