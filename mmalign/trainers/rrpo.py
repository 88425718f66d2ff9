"""RRPO trainer: refined (phrase-level) rewards plus token-wise KL on the preferred response."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..losses import rrpo_loss
from .base import PreferenceConfig, PreferenceTrainer


@dataclass
class RRPOConfig(PreferenceConfig):
    """RRPO (arXiv 2504.12083). Official: LLaVA-Video-7B α=0.01, β=0.1; LongVU α=0.05, β=0.5.

    Ablations: ``reward_level="sequence"`` (the reward over whole responses instead of phrases) and
    ``alpha=0`` (no token-wise KL).
    """

    alpha: float = field(default=0.01, metadata={"help": "Weight of the token-wise KL on y⁺."})
    beta: float = field(default=0.1, metadata={"help": "Reward scale β."})
    reward_level: str = field(default="phrase", metadata={"help": "phrase (RRPO) or sequence (ablation)."})

    def __post_init__(self):
        if self.reward_level not in ("phrase", "sequence"):
            raise ValueError(f"reward_level must be 'phrase' or 'sequence', got {self.reward_level!r}")
        super().__post_init__()


class RRPOTrainer(PreferenceTrainer):
    """Policy and reference on the pair batch; phrase rewards; KL over every token of y⁺."""

    method = "rrpo"

    def preference_loss(self, model, batch):
        args = self.args
        scores = self.score_rows(model, batch["pair"], pairs=True, reference=True, kl="grad")
        policy_chosen, policy_rejected = self.split_pair(scores.policy)
        ref_chosen, ref_rejected = self.split_pair(scores.reference)
        if args.reward_level == "sequence":
            pc, pr = policy_chosen.logps[:, None], policy_rejected.logps[:, None]
            rc, rr = ref_chosen.logps[:, None], ref_rejected.logps[:, None]
            mask = pc.new_ones(pc.shape, dtype=bool)
        else:
            pc, pr, mask = self.phrase_tensors(policy_chosen, policy_rejected)
            num = pc.shape[1]
            rc, rr = ref_chosen.phrase_logps(num), ref_rejected.phrase_logps(num)
        kl = scores.kl[: pc.shape[0]]
        losses, chosen_rewards, rejected_rewards = rrpo_loss(pc, pr, rc, rr, mask, kl, args.beta, args.alpha)
        policy_phrases = self.phrase_tensors(policy_chosen, policy_rejected)
        metrics = {
            "loss/pref": (losses - args.alpha * kl).mean(),
            "loss/kl": kl.mean(),
            "kl": kl.mean(),
            "rewards/chosen": chosen_rewards.mean(),
            "rewards/rejected": rejected_rewards.mean(),
            "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
            "rewards/accuracies": (chosen_rewards > rejected_rewards).float().mean(),
            "logps/chosen": policy_chosen.logps.mean(),
            "logps/rejected": policy_rejected.logps.mean(),
            **self.phrase_metrics(*policy_phrases),
        }
        return losses.mean(), metrics
