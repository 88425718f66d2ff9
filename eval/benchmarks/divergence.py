"""Divergence from the base model: the token-wise KL of the aligned model from its base on a held-out
general set, KL(π_base ‖ π_aligned) at every response token (:func:`mmalign.losses.token_kl`, the
quantity DPA and RRPO regularise), over the full vocabulary.

The general set is read like DPA's reference samples (LLaVA conversations or canonical
``{id, prompt, response, images | video}``); every assistant turn is scored. The aligned model is
``model`` + ``adapter`` and the base the same model with the adapter disabled, or, for a fully
fine-tuned model, ``base_model``. Reports ``kl_per_token`` (Σ KL / Σ response tokens) and
``kl_per_sample`` (mean over samples of the summed KL).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mmalign.data.dataset import MediaOptions, PreferenceCollator, load_media
from mmalign.data.encoding import encode
from mmalign.data.readers import read_conversations
from mmalign.errors import ConfigError
from mmalign.losses import token_kl
from mmalign.scoring import _to_device, score_batch

from ..config import EvalConfig
from .base import Benchmark, Item


@dataclass
class DivergenceConfig(EvalConfig):
    ref_file: str = ""  # held-out general samples (LLaVA conversations or canonical)
    ref_format: str = "auto"
    base_model: str | None = None  # the base of a fully fine-tuned model (else: adapter disabled)
    max_length: int | None = None


class DivergenceBenchmark(Benchmark):
    name = "divergence"
    config_cls = DivergenceConfig
    mode = "score"

    def load_items(self) -> list[Item]:
        if not (self.config.adapter or self.config.base_model):
            raise ConfigError("divergence compares an aligned model with its base: give adapter=PATH, or base_model=ID for a fully fine-tuned model")
        return [
            Item(
                id=conv.id,
                prompt=conv.turns[0][1],
                images=[self.media_path(im) for im in conv.images if isinstance(im, str)],
                video=self.media_path(conv.video) if conv.video else None,
                source=conv.source,
                meta={"conversation": conv},
            )
            for conv in read_conversations(self.config.ref_file, self.config.ref_format)
        ]

    @torch.no_grad()
    def compute(self, runtime: Any, items: list[Item]) -> list[dict[str, Any]]:
        c = self.config
        media = MediaOptions(c.media_root, c.num_frames, c.fps)
        collator = PreferenceCollator(runtime.processor, max_length=c.max_length)
        sequences = []
        for item in items:
            conv = item.meta["conversation"]
            images, video = load_media(conv.images, conv.video, media, conv.id, conv.source)
            sequences.append(
                collator.reference_sequence({"reference": conv, "reference_images": images, "reference_video": video})
            )
        encoded = _to_device(encode(runtime.processor, sequences, c.max_length), runtime.device)
        aligned = score_batch(runtime.model, encoded, keep_logits=True)
        with self._base(runtime) as base_model:
            base = score_batch(base_model, encoded, keep_logits=True)
        kl = token_kl(aligned.logits, base.logits, aligned.response_mask).float().cpu()
        tokens = aligned.response_mask.sum(-1).cpu()
        return [{"id": item.id, "kl": float(kl[i]), "tokens": int(tokens[i])} for i, item in enumerate(items)]

    @contextlib.contextmanager
    def _base(self, runtime: Any):
        if runtime.base_model is not None:
            yield runtime.base_model
        else:
            with runtime.model.disable_adapter():
                yield runtime.model

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        kls = [records[item.id]["kl"] for item in items]
        tokens = sum(records[item.id]["tokens"] for item in items)
        return {
            "kl_per_token": sum(kls) / tokens if tokens else 0.0,
            "kl_per_sample": sum(kls) / len(kls),
            "num_tokens": tokens,
            "n": len(items),
        }

