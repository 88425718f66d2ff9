"""The shared base of every preference trainer: config fields, reference policy, metrics.

Subclasses implement :meth:`PreferenceTrainer.preference_loss`; they arrange forwards through
:meth:`policy_scores` / :meth:`reference_scores` and call the pure losses of :mod:`mmalign.losses`.

Many processes: the Trainer (through accelerate) handles DDP and DeepSpeed for the policy. Here we
add what it does not do for a second model and for our own metrics: the frozen reference of full
fine-tuning goes through :func:`prepare_deepspeed_reference` (sharded under ZeRO-3, replicated
otherwise), and metrics are averaged over ranks with one all-reduce at logging time.

Padding-free batching (``padding_free``) forwards a batch as one packed row with per-sample
position ids; transformers then runs FlashAttention's variable-length kernels (or, for SDPA and
eager, a block-diagonal mask), so no compute is spent on padding. See :func:`packed_score_batch`.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import shutil
from collections import defaultdict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..checkpoints import publish, staging_dir
from ..data.dataset import PreferenceCollator
from ..errors import ConfigError
from ..fastpath import fast_path_unsupported, score_fast, shared_prefix_unsupported
from ..losses import phrase_mask_from_ids, token_kl, token_logps
from ..scoring import BatchScores, ScoredBatch, _accepts_logits_to_keep, base_model, score_batch
from .checkpointing import resolve_activation_checkpointing

logger = logging.getLogger(__name__)

#: transformers renamed ``gradient_checkpointing`` to ``activation_checkpointing`` during 5.x (5.17 has only
#: the old name; later releases keep it as an alias until v6): the name the installed version knows
CHECKPOINTING = (
    "activation_checkpointing" if "activation_checkpointing" in {f.name for f in fields(TrainingArguments)}
    else "gradient_checkpointing"
)

#: inputs that a packed forward knows how to rewrite; any other per-token input rules packing out
PACKABLE_TOKEN_INPUTS = ("input_ids", "attention_mask")


@dataclass
class PreferenceConfig(TrainingArguments):
    """Fields every method shares, on top of :class:`transformers.TrainingArguments`."""

    max_length: int | None = field(
        default=2048, metadata={"help": "Longest sample in tokens, media tokens included; longer is an error."}
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "Batches are built by our collator."})
    disable_dropout: bool = field(
        default=True,
        metadata={
            "help": "Set every dropout of the policy and the reference to p=0 (LoRA's included), as the official "
            "HALVA/RRPO trainers and TRL's DPOTrainer do: the policy and reference forwards then agree."
        },
    )
    global_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "Pairs per optimizer step over all processes; sets gradient_accumulation_steps from the "
            "number of processes and per_device_train_batch_size (it must divide evenly)."
        },
    )
    padding_free: bool | str = field(
        default="auto",
        metadata={
            "help": "Forward each batch as one packed row without padding. auto: on with FlashAttention (its "
            "variable-length kernels skip the padding) for models with 1-D positions; true: always (SDPA/eager "
            "give the same results through a block-diagonal mask, without the savings); false: off."
        },
    )
    activation_checkpointing: bool | str | None = field(
        default=None,
        metadata={
            "help": "Recompute activations in the backward pass to save memory. auto: off when a step's activations "
            "fit the device with a margin (estimated from the shapes before training), on otherwise; the run says "
            "which in one line."
        },
    )
    gradient_checkpointing: bool | str | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (auto allowed too)."}
    )
    fast_path: bool = field(
        default=True,
        metadata={
            "help": "Encode media once per sample, forward each pair's shared prefix once and compute logits only "
            "where scored, in chunks (same loss and gradients as the plain path). Where the model or a setting "
            "rules it out, the run says why in one line and uses the plain path; false: always the plain path."
        },
    )

    def __post_init__(self):
        if self.padding_free not in (True, False, "auto"):
            raise ValueError(f"padding_free must be true, false or auto, got {self.padding_free!r}")
        if self.global_batch_size is not None:
            if self.global_batch_size <= 0:
                raise ValueError(f"global_batch_size must be positive, got {self.global_batch_size}")
            if self.gradient_accumulation_steps != 1:
                raise ValueError(
                    f"global_batch_size={self.global_batch_size} sets gradient_accumulation_steps itself: give one "
                    "of them (global_batch_size=null to set gradient_accumulation_steps)"
                )
        for name in ("activation_checkpointing", "gradient_checkpointing"):
            if getattr(self, name) not in (True, False, None, "auto"):
                raise ValueError(f"{name} must be true, false or auto, got {getattr(self, name)!r}")
        # One setting under two names (older 5.x releases know only gradient_checkpointing): both carry it.
        if self.activation_checkpointing is None:
            self.activation_checkpointing = self.gradient_checkpointing
        self.gradient_checkpointing = self.activation_checkpointing
        super().__post_init__()
        # Non-reentrant checkpointing works with frozen inputs (LoRA); under whichever spelling
        # (or both, where one mirrors the other) the installed transformers has.
        for name in (f"{CHECKPOINTING}_kwargs", "gradient_checkpointing_kwargs"):
            if hasattr(self, name) and getattr(self, name) is None:
                setattr(self, name, {"use_reentrant": False})

    def apply_global_batch_size(self, num_processes: int) -> None:
        """Set ``gradient_accumulation_steps`` so that one optimizer step sees ``global_batch_size`` pairs.

        Raises :class:`ConfigError` when ``global_batch_size`` is not a multiple of
        ``per_device_train_batch_size × num_processes``.
        """
        if self.global_batch_size is None:
            return
        per_step = self.per_device_train_batch_size * num_processes
        if self.global_batch_size % per_step:
            raise ConfigError(
                f"global_batch_size={self.global_batch_size} is not a multiple of per_device_train_batch_size "
                f"({self.per_device_train_batch_size}) x processes ({num_processes}) = {per_step}"
            )
        self.gradient_accumulation_steps = self.global_batch_size // per_step

    def effective_batch(self, num_processes: int) -> str:
        """One line: pairs per optimizer step and how they are made up."""
        total = self.per_device_train_batch_size * self.gradient_accumulation_steps * num_processes
        return (
            f"effective batch: {total} pairs per optimizer step ({self.per_device_train_batch_size} per device x "
            f"{self.gradient_accumulation_steps} accumulation steps x {num_processes} processes)"
        )


def activation_checkpointing(enabled: bool) -> dict[str, bool]:
    """``TrainingArguments`` keyword that switches activation checkpointing, in the installed spelling."""
    return {CHECKPOINTING: enabled}


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
        longest_sample: int | None = None,
        **kwargs: Any,
    ):
        """``longest_sample``: tokens in the longest sample, when known (it sizes
        ``activation_checkpointing=auto``; ``max_length`` otherwise)."""
        if data_collator is None:
            data_collator = PreferenceCollator(processing_class, max_length=args.max_length)
        if args.activation_checkpointing == "auto":
            rows = args.per_device_train_batch_size * (3 if self.uses_reference_samples else 2)
            longest = longest_sample or args.max_length or 2048
            use = resolve_activation_checkpointing(model, args.device, rows, longest)
            args.activation_checkpointing = args.gradient_checkpointing = use
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
        if args.disable_dropout:
            disable_dropout(model)
            if ref_model is not None:
                disable_dropout(ref_model)
        if ref_model is not None:
            ref_model.eval().requires_grad_(False)
            if self.is_deepspeed_enabled:
                self.ref_model = self._prepare_deepspeed_reference(ref_model)
            else:
                self.ref_model = self.accelerator.prepare_model(ref_model, evaluation_mode=True)
        elif not hasattr(self.accelerator.unwrap_model(self.model), "disable_adapter"):
            raise ValueError("without adapters (full fine-tuning) a frozen ref_model must be given")
        # name ("eval/name" in eval mode) → values of this rank since the last log
        self._metrics: dict[str, list[float]] = defaultdict(list)
        self.padding_free = self._resolve_padding_free()
        self.fast_path, self.share_prefix = self._resolve_fast_path()

    def _prepare_deepspeed_reference(self, ref_model: torch.nn.Module) -> torch.nn.Module:
        return prepare_deepspeed_reference(ref_model, self.accelerator.state.deepspeed_plugin.deepspeed_config)

    def _resolve_padding_free(self) -> bool:
        requested = self.args.padding_free
        if requested is False:
            return False
        base = base_model(self.accelerator.unwrap_model(self.model))
        attn = str(getattr(base.config, "_attn_implementation", "") or "")
        reason = packing_unsupported(base)
        if requested == "auto":
            use = reason is None and attn.startswith("flash_attention")
            logger.info("padding-free batching: %s", "on" if use else f"off ({reason or 'attention is ' + attn})")
            return use
        if reason:
            raise ConfigError(f"padding_free=true is not supported here: {reason}")
        if not attn.startswith("flash_attention"):
            logger.warning(
                "padding_free=true with attn_implementation=%s: same results through a block-diagonal mask, "
                "without the savings of FlashAttention's variable-length kernels",
                attn,
            )
        return True

    def _resolve_fast_path(self) -> tuple[bool, bool]:
        if not self.args.fast_path:
            return False, False
        model = self.accelerator.unwrap_model(self.model)
        reason = fast_path_unsupported(model)
        if reason is None and self.ref_model is not None:
            reason = fast_path_unsupported(self.ref_model)
        if reason is None and self.padding_free:
            reason = "padding-free batches use the packed forward"
        if reason:
            logger.warning("fast path off, plain forwards used: %s", reason)
            return False, False
        no_sharing = shared_prefix_unsupported(model)
        if no_sharing:
            logger.warning("fast path on without prefix sharing: %s", no_sharing)
        else:
            logger.info("fast path on: media encoded once per sample, pair prefixes shared, logits in chunks")
        return True, no_sharing is None

    # forwards -------------------------------------------------------------------------------------
    def score_rows(
        self,
        model: torch.nn.Module,
        encoded: dict[str, Any],
        pairs: bool,
        reference: bool,
        kl: str | None = None,
    ) -> ScoredBatch:
        """Policy scores of ``encoded``, with the reference's and the token-wise KL per row when asked.

        ``pairs``: rows are chosen then rejected rows of the same samples. ``kl``: None (not
        computed), ``"grad"`` (a loss term) or ``"metric"`` (logged, no gradient). The fast path
        (:mod:`mmalign.fastpath`) and the plain path give the same values.
        """
        if kl is not None and not reference:
            raise ValueError("the token-wise KL needs the reference forward")
        if self.fast_path:
            return score_fast(
                model,
                encoded,
                (lambda: self._reference_policy(model)) if reference else None,
                pairs=pairs,
                kl_grad=kl == "grad",
                share_prefix=self.share_prefix,
            )
        policy = self.policy_scores(model, encoded, keep_logits=kl is not None)
        ref = self.reference_scores(model, encoded, keep_logits=kl is not None) if reference else None
        divergence = None
        if kl is not None:
            with contextlib.nullcontext() if kl == "grad" else torch.no_grad():
                divergence = token_kl(policy.logits, ref.logits, policy.response_mask)
        return ScoredBatch(policy=policy, reference=ref, kl=divergence)

    def _score(self, model: torch.nn.Module, encoded: dict[str, Any], keep_logits: bool) -> BatchScores:
        if self.padding_free:
            return packed_score_batch(model, encoded, keep_logits=keep_logits)
        return score_batch(model, encoded, keep_logits=keep_logits)

    def policy_scores(self, model: torch.nn.Module, encoded: dict[str, Any], keep_logits: bool = False) -> BatchScores:
        return self._score(model, encoded, keep_logits)

    @torch.no_grad()
    def reference_scores(self, model: torch.nn.Module, encoded: dict[str, Any], keep_logits: bool = False) -> BatchScores:
        with self._reference_policy(model) as reference:
            return self._score(reference, encoded, keep_logits)

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
        if metrics:
            prefix = "" if model.training else "eval/"
            # One device→host copy per step for all metrics; ranks are combined when logging.
            values = torch.stack([_scalar(v, loss.device) for v in metrics.values()]).tolist()
            for name, value in zip(metrics, values):
                self._metrics[prefix + name].append(value)
        return (loss, {"loss": loss}) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def _save_checkpoint(self, model, trial) -> None:
        """Write the checkpoint under a staging name and rename it into place once complete, so a
        kill mid-write never leaves a ``checkpoint-N`` that looks valid (:mod:`mmalign.checkpoints`)."""
        run_dir = Path(self._get_output_dir(trial=trial))
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = staging_dir(run_dir, self.state.global_step)
        if self.args.should_save and staging.exists():
            shutil.rmtree(staging)  # left by a kill at this very step
        self.accelerator.wait_for_everyone()
        # The Trainer writes into <output_dir>/checkpoint-N and rotates old checkpoints there: point
        # it at the staging folder for the write, publish and rotate in the real folder after.
        output_dir = self.args.output_dir
        self.args.output_dir = str(staging)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.output_dir = output_dir
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            publish(staging / name, run_dir / name)
            if self.state.best_model_checkpoint and self.state.best_model_checkpoint.startswith(str(staging)):
                self.state.best_model_checkpoint = str(run_dir / Path(self.state.best_model_checkpoint).name)
            self._rotate_in(run_dir)
        self.accelerator.wait_for_everyone()

    def _rotate_in(self, run_dir: Path) -> None:
        """Delete checkpoints beyond ``save_total_limit`` (a function in newer transformers, a method before)."""
        try:
            from transformers.trainer_utils import rotate_checkpoints
        except ImportError:
            self._rotate_checkpoints(use_mtime=True, output_dir=str(run_dir))
            return
        rotate_checkpoints(output_dir=str(run_dir), save_total_limit=self.args.save_total_limit,
                           best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the method's metrics, each averaged over the steps since the last log and over ranks.

        Every rank calls ``log`` at the same steps and records the same metric names (the method's
        fixed set), so one all-reduce of the stacked per-rank means combines them all.
        """
        eval_logs = any(key.startswith("eval_") for key in logs)
        names = sorted(name for name in self._metrics if name.startswith("eval/") == eval_logs)
        if names:
            means = torch.tensor(
                [sum(self._metrics[n]) / len(self._metrics[n]) for n in names], device=self.accelerator.device
            )
            means = self.accelerator.reduce(means, reduction="mean").tolist()
            for name, value in zip(names, means):
                del self._metrics[name]
                logs["eval_" + name[5:] if eval_logs else name] = value
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


def disable_dropout(model: torch.nn.Module) -> None:
    """Zero every dropout of ``model``, as the official HALVA/RRPO trainers and TRL's DPOTrainer do.

    That is the ``nn.Dropout`` modules (LoRA's included), and the attention dropout that
    transformers' attention layers read from a float attribute at every forward, and the configs'
    dropout probabilities (so that nothing built later from them brings dropout back).
    """
    configs = {}
    for module in model.modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "to_dict"):
            configs[id(config)] = config
    for config in configs.values():
        subs = [getattr(config, key, None) for key in getattr(config, "sub_configs", {})]
        for sub in [config, *(c for c in subs if c is not None)]:
            for key, value in list(vars(sub).items()):
                if "dropout" in key and isinstance(value, float):
                    setattr(sub, key, 0.0)


def _scalar(value: Any, device: torch.device) -> torch.Tensor:
    value = value.detach() if torch.is_tensor(value) else torch.tensor(float(value))
    return value.float().reshape(()).to(device)


# DeepSpeed reference ----------------------------------------------------------------------------------
def prepare_deepspeed_reference(ref_model: torch.nn.Module, deepspeed_config: dict[str, Any]) -> torch.nn.Module:
    """Wrap the frozen reference in a DeepSpeed inference engine next to the policy's.

    ZeRO-3: sharded like the policy (its parameters are gathered layer by layer in the forward);
    the model should come from ``from_pretrained`` under ``zero.Init`` (see
    :func:`mmalign.models.frozen_reference`) so no rank ever holds all of it. ZeRO-0/1/2 shard only
    optimizer state and gradients, which a frozen model has none of, so it is replicated (stage 0).

    Same idea as TRL's ``prepare_deepspeed``, which we do not reuse because it sets its bucket sizes
    under dotted top-level keys (``"zero_optimization.reduce_bucket_size"``) that DeepSpeed ignores,
    leaving ``auto`` values in place, and reads the hidden size only from a top-level config that
    vision-language models do not have.
    """
    import deepspeed

    config = copy.deepcopy(deepspeed_config)
    zero = config.setdefault("zero_optimization", {})
    if zero.get("stage", 0) == 3:
        hidden = getattr(ref_model.config.get_text_config(), "hidden_size", None)
        if hidden:
            for key, value in (
                ("reduce_bucket_size", hidden * hidden),
                ("stage3_prefetch_bucket_size", int(0.9 * hidden * hidden)),
                ("stage3_param_persistence_threshold", 10 * hidden),
            ):
                if zero.get(key, "auto") == "auto":
                    zero[key] = value
    else:
        zero["stage"] = 0
        zero.pop("offload_param", None)
    # No optimizer for a frozen model: drop what would make DeepSpeed build one (or a scheduler).
    for key in ("optimizer", "scheduler"):
        config.pop(key, None)
    zero.pop("offload_optimizer", None)
    engine, *_ = deepspeed.initialize(model=ref_model, config=config)
    engine.eval()
    return engine


# padding-free forwards --------------------------------------------------------------------------------
def packing_unsupported(model: torch.nn.Module) -> str | None:
    """Why ``model`` cannot take packed rows, or None when it can.

    Packing needs the language model to take 1-D position ids that restart at every sample. Models
    with multimodal rotary positions (Qwen2-VL, Qwen2.5-VL, Qwen3-VL …) compute 3-D positions from
    the whole padded batch, so they are excluded; so are models that take ``token_type_ids``
    (Gemma 3, PaliGemma: image tokens attend to each other both ways), a per-token input that
    packed rows do not carry.
    """
    base = base_model(model)
    if "token_type_ids" in inspect.signature(base.forward).parameters:
        return f"{type(base).__name__} takes token_type_ids (two-way attention over image tokens), which packed rows cannot carry"
    text_config = base.config.get_text_config()
    rope = getattr(text_config, "rope_parameters", None) or getattr(text_config, "rope_scaling", None) or {}
    if hasattr(base, "get_rope_index") or hasattr(getattr(base, "model", None), "get_rope_index") or (
        isinstance(rope, dict) and "mrope_section" in rope
    ):
        return f"{type(base).__name__} uses multimodal rotary positions, which packed rows cannot express"
    return None


def packed_score_batch(model: torch.nn.Module, encoded: dict[str, Any], keep_logits: bool = False) -> BatchScores:
    """:func:`mmalign.scoring.score_batch` without padding: the same :class:`BatchScores` layout.

    The real tokens of every row are concatenated into one row, with position ids restarting at 0
    for each sample; transformers reads those as sample boundaries (FlashAttention varlen kernels,
    or a block-diagonal mask for SDPA/eager). Media inputs are passed unchanged: their placeholder
    tokens keep their order. Logits are computed only at the positions that predict a response
    token (``logits_to_keep`` as an index tensor) and scattered back into the padded layout.
    """
    inputs = encoded["inputs"]
    input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"].bool()
    rows, length = input_ids.shape
    for key, value in inputs.items():
        if key not in PACKABLE_TOKEN_INPUTS and torch.is_tensor(value) and value.shape[:2] == (rows, length):
            raise ConfigError(f"padding_free cannot pack the per-token input {key!r} of this model; set padding_free=false")
    response_mask = encoded["response_mask"]
    first = int(response_mask.float().argmax(dim=1).min()) if response_mask.any() else 1
    start = max(first - 1, 0)
    packed_index = torch.full_like(input_ids, -1)
    packed_index[attention_mask] = torch.arange(int(attention_mask.sum()), device=input_ids.device)
    positions = attention_mask.long().cumsum(dim=1) - 1
    mask = response_mask[:, start + 1 :]
    source = packed_index[:, start:-1][mask]  # packed position predicting each response token
    if bool((source < 0).any()):
        raise ValueError("a response token follows padding: the batch is not left- or right-padded")
    packed = {k: v for k, v in inputs.items() if k not in PACKABLE_TOKEN_INPUTS}
    packed["input_ids"] = input_ids[attention_mask][None]
    packed["position_ids"] = positions[attention_mask][None]
    if _accepts_logits_to_keep(model):
        selected = model(**packed, use_cache=False, logits_to_keep=source).logits[0]
    else:
        selected = model(**packed, use_cache=False).logits[0, source]
    logits = selected.new_zeros(rows, mask.shape[1], selected.shape[-1])
    logits = logits.index_put((mask.nonzero(as_tuple=True)), selected)
    labels = input_ids[:, start + 1 :]
    return BatchScores(
        token_logps=token_logps(logits, labels, mask),
        response_mask=mask,
        phrase_ids=encoded["phrase_ids"][:, start + 1 :],
        logits=logits if keep_logits else None,
    )
