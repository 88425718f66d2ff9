"""DPA trainer (HALVA): phrase-level alignment plus token-wise KL on general reference samples."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from ..losses import PHRASE_REDUCTIONS, dpa_loss, token_kl
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
        scores = self.policy_scores(model, batch["pair"], keep_logits=kl_on_pair)
        chosen, rejected = self.split_pair(scores)
        chosen_phrases, rejected_phrases, mask = self.phrase_tensors(chosen, rejected)

        kl_batch = batch["pair"] if kl_on_pair else batch["reference"]
        with contextlib.nullcontext() if alpha > 0 else torch.no_grad():
            kl_policy = chosen if kl_on_pair else self.policy_scores(model, kl_batch, keep_logits=True)
        kl_reference = self.reference_scores(model, kl_batch, keep_logits=True)
        if kl_on_pair:
            kl_reference = self.split_pair(kl_reference)[0]
        kl = token_kl(kl_policy.logits, kl_reference.logits, kl_policy.response_mask)

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
