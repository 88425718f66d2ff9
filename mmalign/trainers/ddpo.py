"""DDPO baseline trainer (RLHF-V): DPO on dense log-probabilities that up-weight the tagged phrases."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..losses import dense_logps, dpo_loss
from .base import PreferenceConfig, PreferenceTrainer
from .dpo import reward_metrics


@dataclass
class DDPOConfig(PreferenceConfig):
    """DDPO (RLHF-V, arXiv 2312.00849): the DPO loss on :func:`mmalign.losses.dense_logps`."""

    beta: float = field(default=0.1, metadata={"help": "Reward scale β."})
    gamma: float = field(default=5.0, metadata={"help": "Weight γ of the changed (tagged) tokens; RLHF-V uses 5."})

    def __post_init__(self):
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive, got {self.gamma!r}")
        super().__post_init__()


class DDPOTrainer(PreferenceTrainer):
    """Policy and reference on the pair batch; DPO over dense response log-probabilities."""

    method = "ddpo"

    def preference_loss(self, model, batch):
        gamma = self.args.gamma
        scores = self.score_rows(model, batch["pair"], pairs=True, reference=True, kl="metric")
        policy_chosen, policy_rejected = self.split_pair(scores.policy)
        ref_chosen, ref_rejected = self.split_pair(scores.reference)

        def dense(scores):
            return dense_logps(scores.token_logps, scores.response_mask, scores.phrase_ids > 0, gamma)

        losses, chosen_rewards, rejected_rewards = dpo_loss(
            dense(policy_chosen), dense(policy_rejected), dense(ref_chosen), dense(ref_rejected), self.args.beta
        )
        metrics = {
            "kl": scores.kl[: len(losses)].mean(),
            **reward_metrics(chosen_rewards, rejected_rewards),
            "logps/chosen": policy_chosen.logps.mean(),
            "logps/rejected": policy_rejected.logps.mean(),
            **self.phrase_metrics(*self.phrase_tensors(policy_chosen, policy_rejected)),
        }
        return losses.mean(), metrics
