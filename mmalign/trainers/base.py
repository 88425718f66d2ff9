"""The shared base of every preference trainer: config fields, reference policy, metrics.

Subclasses implement :meth:`PreferenceTrainer.preference_loss`; they arrange forwards through
:meth:`policy_scores` / :meth:`reference_scores` and call the pure losses of :mod:`mmalign.losses`.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from ..data.dataset import PreferenceCollator
from ..losses import phrase_mask_from_ids
from ..scoring import BatchScores, score_batch


@dataclass
class PreferenceConfig(TrainingArguments):
    """Fields every method shares, on top of :class:`transformers.TrainingArguments`."""

    max_length: int | None = field(
        default=2048, metadata={"help": "Longest sample in tokens, media tokens included; longer is an error."}
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "Batches are built by our collator."})
    activation_checkpointing_kwargs: dict[str, Any] | str | None = field(
        default_factory=lambda: {"use_reentrant": False},
        metadata={"help": "Non-reentrant checkpointing works with frozen inputs (LoRA)."},
    )


class PreferenceTrainer(Trainer):
    """A :class:`transformers.Trainer` for paired preference data with phrase annotations.

    The reference policy is ``ref_model`` when given (full fine-tuning: a frozen copy), otherwise
    the policy itself with its adapters disabled (LoRA: no second copy in memory).
    """

    method: str = "preference"
    uses_reference_samples: bool = False

    def __init__(
        self,
        model: torch.nn.Module,
        args: PreferenceConfig,
        train_dataset: torch.utils.data.Dataset | None = None,
        processing_class: Any = None,
        ref_model: torch.nn.Module | None = None,
        data_collator: Any = None,
        **kwargs: Any,
    ):
        if data_collator is None:
            data_collator = PreferenceCollator(processing_class, max_length=args.max_length)
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            data_collator=data_collator,
            **kwargs,
        )
        # Our losses are already means; the Trainer must divide by accumulation steps itself.
        self.model_accepts_loss_kwargs = False
        self.ref_model = ref_model
        if ref_model is not None:
            ref_model.eval().requires_grad_(False)
            if self.is_deepspeed_enabled:
                self.ref_model = self._prepare_deepspeed_reference(ref_model)
            else:
                self.ref_model = self.accelerator.prepare_model(ref_model, evaluation_mode=True)
        elif not hasattr(self.accelerator.unwrap_model(self.model), "disable_adapter"):
            raise ValueError("without adapters (full fine-tuning) a frozen ref_model must be given")
        self._metrics: dict[str, list[float]] = defaultdict(list)

    def _prepare_deepspeed_reference(self, ref_model: torch.nn.Module) -> torch.nn.Module:
        from trl.models.utils import prepare_deepspeed

        return prepare_deepspeed(ref_model, self.accelerator)

    # forwards -------------------------------------------------------------------------------------
    def policy_scores(self, model: torch.nn.Module, encoded: dict[str, Any], keep_logits: bool = False) -> BatchScores:
        return score_batch(model, encoded, keep_logits=keep_logits)

    @torch.no_grad()
    def reference_scores(self, model: torch.nn.Module, encoded: dict[str, Any], keep_logits: bool = False) -> BatchScores:
        with self._reference_policy(model) as reference:
            return score_batch(reference, encoded, keep_logits=keep_logits)

    @contextlib.contextmanager
    def _reference_policy(self, model: torch.nn.Module):
        if self.ref_model is not None:
            yield self.ref_model
            return
        with self.accelerator.unwrap_model(model).disable_adapter():
            yield model

    # loss -----------------------------------------------------------------------------------------
    def preference_loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the scalar loss and the metrics to log (scalars; averaged over logging steps)."""
        raise NotImplementedError

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss, metrics = self.preference_loss(model, inputs)
        mode = "train" if model.training else "eval"
        for name, value in metrics.items():
            value = value.detach() if torch.is_tensor(value) else torch.tensor(float(value))
            self._metrics[f"{mode}/{name}" if mode == "eval" else name].append(
                float(self.accelerator.gather_for_metrics(value.float().reshape(1).to(loss.device)).mean())
            )
        return (loss, {"loss": loss}) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        eval_logs = any(key.startswith("eval_") for key in logs)
        for name in list(self._metrics):
            if name.startswith("eval/") == eval_logs:
                values = self._metrics.pop(name)
                key = "eval_" + name[5:] if eval_logs else name
                logs[key] = sum(values) / len(values)
        super().log(logs, start_time)

    # shared metric helpers --------------------------------------------------------------------------
    @staticmethod
    def split_pair(scores: BatchScores) -> tuple[BatchScores, BatchScores]:
        """Chosen rows and rejected rows of a pair batch (chosen first, see the collator)."""
        n = scores.token_logps.shape[0] // 2

        def rows(sl: slice) -> BatchScores:
            return BatchScores(
                token_logps=scores.token_logps[sl],
                response_mask=scores.response_mask[sl],
                phrase_ids=scores.phrase_ids[sl],
                logits=None if scores.logits is None else scores.logits[sl],
            )

        return rows(slice(0, n)), rows(slice(n, None))

    @staticmethod
    def phrase_tensors(chosen: BatchScores, rejected: BatchScores) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(chosen phrase log-probs, rejected phrase log-probs, real-phrase mask), each (B, N)."""
        num = int(max(chosen.phrase_ids.max(), rejected.phrase_ids.max()))
        mask = phrase_mask_from_ids(chosen.phrase_ids, num) & phrase_mask_from_ids(rejected.phrase_ids, num)
        return chosen.phrase_logps(num), rejected.phrase_logps(num), mask

    @staticmethod
    def phrase_metrics(chosen_phrases: torch.Tensor, rejected_phrases: torch.Tensor, mask: torch.Tensor) -> dict:
        """Phrase preference accuracy and mean phrase margin over real phrases."""
        margin = (chosen_phrases - rejected_phrases).detach()
        real = mask.sum().clamp(min=1)
        return {
            "phrase_accuracy": ((margin > 0) & mask).sum() / real,
            "phrase_margin": torch.where(mask, margin, 0).sum() / real,
        }
