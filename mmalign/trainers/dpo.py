"""DPO baseline trainer: sequence-level sigmoid DPO on whole responses."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..losses import dpo_loss
from .base import PreferenceConfig, PreferenceTrainer


@dataclass
class DPOConfig(PreferenceConfig):
    """DPO (arXiv 2305.18290)."""

    beta: float = field(default=0.1, metadata={"help": "Reward scale β."})


class DPOTrainer(PreferenceTrainer):
    """Policy and reference on the pair batch; whole-response rewards. Token KL is logged only."""

    method = "dpo"

    def preference_loss(self, model, batch):
        scores = self.score_rows(model, batch["pair"], pairs=True, reference=True, kl="metric")
        policy = scores.policy
        policy_chosen, policy_rejected = self.split_pair(policy)
        ref_chosen, ref_rejected = self.split_pair(scores.reference)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            policy_chosen.logps, policy_rejected.logps, ref_chosen.logps, ref_rejected.logps, self.args.beta
        )
        metrics = {
            "kl": scores.kl[: len(losses)].mean(),
            **reward_metrics(chosen_rewards, rejected_rewards),
            "logps/chosen": policy_chosen.logps.mean(),
            "logps/rejected": policy_rejected.logps.mean(),
        }
        if int(policy.phrase_ids.max()) > 0:
            metrics.update(self.phrase_metrics(*self.phrase_tensors(policy_chosen, policy_rejected)))
        return losses.mean(), metrics


def reward_metrics(chosen_rewards: torch.Tensor, rejected_rewards: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        "rewards/chosen": chosen_rewards.mean(),
        "rewards/rejected": rejected_rewards.mean(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
    }
