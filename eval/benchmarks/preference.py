"""Phrase-preference accuracy on held-out pairs: how often the model gives the correct phrase a
higher log-probability than the hallucinated one, through :func:`mmalign.scoring.score_pairs`.

Pairs are read like training pairs (any format of :func:`mmalign.data.readers.read_pairs`). Reports
``phrase_accuracy`` (% of phrases where log π(y⁺ᵢ) > log π(y⁻ᵢ)), ``pair_accuracy`` (% of pairs with
every phrase right), ``response_accuracy`` (% of pairs where the whole correct response is more
likely) and ``mean_phrase_margin`` (mean of log π(y⁺ᵢ) − log π(y⁻ᵢ), in nats).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmalign.data.readers import read_pairs
from mmalign.data.tags import tag_text
from mmalign.scoring import score_pairs

from ..config import EvalConfig
from ..metrics.common import pct
from .base import Benchmark, Item


@dataclass
class PreferenceConfig(EvalConfig):
    pairs_file: str = ""  # held-out pairs, any training pair format
    format: str = "auto"
    max_length: int | None = None


class PreferenceBenchmark(Benchmark):
    name = "preference"
    config_cls = PreferenceConfig
    mode = "score"

    def load_items(self) -> list[Item]:
        items = []
        for pair in read_pairs(self.config.pairs_file, self.config.format):
            record = {
                "id": pair.id,
                "prompt": pair.prompt,
                "chosen": tag_text(pair.chosen, pair.chosen_spans),
                "rejected": tag_text(pair.rejected, pair.rejected_spans),
                "images": list(pair.images),
            }
            if pair.video:
                record["video"] = pair.video
            items.append(
                Item(
                    id=pair.id,
                    prompt=pair.prompt,
                    images=[self.media_path(im) for im in pair.images if isinstance(im, str)],
                    video=self.media_path(pair.video) if pair.video else None,
                    source=pair.source,
                    meta={"record": record},
                )
            )
        return items

    def compute(self, runtime: Any, items: list[Item]) -> list[dict[str, Any]]:
        c = self.config
        return score_pairs(
            runtime.model,
            runtime.processor,
            [item.meta["record"] for item in items],
            batch_size=len(items),
            media_root=c.media_root,
            num_frames=None if c.fps else c.num_frames,
            fps=c.fps,
            max_length=c.max_length,
        )

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        margins, pairs_right, responses_right = [], 0, 0
        for item in items:
            r = records[item.id]
            pair_margins = [c - j for c, j in zip(r["chosen_phrase_logps"], r["rejected_phrase_logps"])]
            margins += pair_margins
            pairs_right += bool(pair_margins) and all(m > 0 for m in pair_margins)
            responses_right += r["chosen_logp"] > r["rejected_logp"]
        return {
            "phrase_accuracy": pct(sum(m > 0 for m in margins), len(margins)),
            "pair_accuracy": pct(pairs_right, len(items)),
            "response_accuracy": pct(responses_right, len(items)),
            "mean_phrase_margin": sum(margins) / len(margins) if margins else 0.0,
            "num_phrases": len(margins),
            "n": len(items),
        }
