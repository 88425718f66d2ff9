"""DPO baseline trainer: sequence-level sigmoid DPO on whole responses."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..losses import dpo_loss, token_kl
from .base import PreferenceConfig, PreferenceTrainer


@dataclass
class DPOConfig(PreferenceConfig):
    """DPO (arXiv 2305.18290)."""

    beta: float = field(default=0.1, metadata={"help": "Reward scale β."})


class DPOTrainer(PreferenceTrainer):
    """Policy and reference on the pair batch; whole-response rewards. Token KL is logged only."""

    method = "dpo"

    def preference_loss(self, model, batch):
        policy = self.policy_scores(model, batch["pair"], keep_logits=True)
        reference = self.reference_scores(model, batch["pair"], keep_logits=True)
        policy_chosen, policy_rejected = self.split_pair(policy)
        ref_chosen, ref_rejected = self.split_pair(reference)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            policy_chosen.logps, policy_rejected.logps, ref_chosen.logps, ref_rejected.logps, self.args.beta
        )
        with torch.no_grad():
            kl = token_kl(policy_chosen.logits, ref_chosen.logits, policy_chosen.response_mask)
        metrics = {
            "kl": kl.mean(),
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
