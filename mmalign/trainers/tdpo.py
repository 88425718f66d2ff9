"""TDPO baseline trainer: DPO margin corrected by the sequential KL of each response."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..losses import tdpo_loss
from .base import PreferenceConfig, PreferenceTrainer
from .dpo import reward_metrics


@dataclass
class TDPOConfig(PreferenceConfig):
    """TDPO (arXiv 2404.11999); official defaults β=0.1, α=0.5, TDPO2."""

    beta: float = field(default=0.1, metadata={"help": "Reward scale β."})
    alpha: float = field(default=0.5, metadata={"help": "TDPO2 weight of the sequential-KL difference."})
    variant: str = field(default="tdpo2", metadata={"help": "tdpo1 or tdpo2."})

    def __post_init__(self):
        if self.variant not in ("tdpo1", "tdpo2"):
            raise ValueError(f"variant must be 'tdpo1' or 'tdpo2', got {self.variant!r}")
        super().__post_init__()


class TDPOTrainer(PreferenceTrainer):
    method = "tdpo"

    def preference_loss(self, model, batch):
        scores = self.score_rows(model, batch["pair"], pairs=True, reference=True, kl="grad")
        seq_kl = scores.kl
        n = seq_kl.shape[0] // 2
        policy_chosen, policy_rejected = self.split_pair(scores.policy)
        ref_chosen, ref_rejected = self.split_pair(scores.reference)
        losses, chosen_rewards, rejected_rewards = tdpo_loss(
            policy_chosen.logps,
            policy_rejected.logps,
            ref_chosen.logps,
            ref_rejected.logps,
            seq_kl[:n],
            seq_kl[n:],
            self.args.beta,
            self.args.alpha,
            self.args.variant,
        )
        metrics = {
            "kl": seq_kl[:n].mean(),
            "kl/rejected": seq_kl[n:].mean(),
            **reward_metrics(chosen_rewards, rejected_rewards),
            "logps/chosen": policy_chosen.logps.mean(),
            "logps/rejected": policy_rejected.logps.mean(),
        }
        return losses.mean(), metrics
