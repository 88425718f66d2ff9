"""DPA trainer (HALVA): phrase-level alignment plus token-wise KL on general reference samples."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from ..losses import PHRASE_REDUCTIONS, dpa_loss
from .base import PreferenceConfig, PreferenceTrainer


@dataclass
class DPAConfig(PreferenceConfig):
    """DPA: L = L_a + α·L_d (arXiv 2405.18654). Official α: LLaVA-1.5 7B 0.4, 13B 0.5."""

    alpha: float = field(default=0.4, metadata={"help": "Weight of the token-wise KL term L_d."})
    phrase_reduction: str = field(
        default="official",
        metadata={
            "help": "How L_a averages phrase terms: official (over the batch's B×N slot matrix, empty slots "
            "counting log 2, as the official HALVA code and the α it was tuned with) or per_phrase (over "
            "real phrases only)."
        },
    )

    def __post_init__(self):
        if self.phrase_reduction not in PHRASE_REDUCTIONS:
            raise ValueError(
                f"phrase_reduction must be one of {', '.join(PHRASE_REDUCTIONS)}, got {self.phrase_reduction!r}"
            )
        super().__post_init__()


class DPATrainer(PreferenceTrainer):
    """Arranges the DPA forwards.

    Policy on the pair batch (chosen + rejected) → phrase log-probs → L_a (no reference involved).
    Policy and reference on the reference samples → token-wise KL → L_d. Without reference samples
    the KL is taken on (x, y⁺), reusing the pair forward. With α = 0 the KL is still logged, computed
    without gradients.
    """

    method = "dpa"
    uses_reference_samples = True

    def preference_loss(self, model, batch):
        alpha = self.args.alpha
        kl_on_pair = "reference" not in batch
        kl_mode = "grad" if alpha > 0 else "metric"
        scores = self.score_rows(
            model, batch["pair"], pairs=True, reference=kl_on_pair, kl=kl_mode if kl_on_pair else None
        )
        chosen, rejected = self.split_pair(scores.policy)
        chosen_phrases, rejected_phrases, mask = self.phrase_tensors(chosen, rejected)

        if kl_on_pair:
            kl = scores.kl[: chosen_phrases.shape[0]]
        else:
            with contextlib.nullcontext() if alpha > 0 else torch.no_grad():
                kl = self.score_rows(model, batch["reference"], pairs=False, reference=True, kl=kl_mode).kl

        reduction = self.args.phrase_reduction
        loss = dpa_loss(chosen_phrases, rejected_phrases, mask, kl, alpha, reduction)
        align = dpa_loss(chosen_phrases.detach(), rejected_phrases.detach(), mask, torch.zeros_like(kl), 0.0, reduction)
        metrics = {
            "loss/align": align,
            "loss/kl": kl.mean(),
            "kl": kl.mean(),
            "logps/chosen": chosen.logps.mean(),
            "logps/rejected": rejected.logps.mean(),
            **self.phrase_metrics(chosen_phrases, rejected_phrases, mask),
        }
        return loss, metrics
