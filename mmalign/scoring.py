"""Per-token, per-phrase and per-response log-probabilities of encoded batches.

:func:`score_batch` is the one forward path that the trainers and :func:`score_pairs` share.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch

from .data.dataset import MediaOptions, PairDataset, PreferenceCollator
from .data.readers import pair_from_dict
from .losses import phrase_logps, token_logps


@dataclass
class BatchScores:
    """Scores of an encoded batch; position t holds the prediction of token t + 1."""

    token_logps: torch.Tensor  # (R, T') log π(token), 0 outside responses
    response_mask: torch.Tensor  # (R, T') bool
    phrase_ids: torch.Tensor  # (R, T') long
    logits: torch.Tensor | None  # (R, T', V) when requested, else None

    @property
    def logps(self) -> torch.Tensor:
        """Whole-response log-probability, (R,)."""
        return self.token_logps.sum(-1)

    def phrase_logps(self, num_phrases: int | None = None) -> torch.Tensor:
        return phrase_logps(self.token_logps, self.phrase_ids, num_phrases)


@dataclass
class ScoredBatch:
    """Policy and reference scores of one encoded batch, with the token-wise KL of each row."""

    policy: BatchScores
    reference: BatchScores | None = None
    kl: torch.Tensor | None = None  # (R,) KL(π_ref ‖ π_θ) summed over each row's scored positions
    layout: Any = None  # fast path only: the mmalign.fastpath.layout.Layout that was forwarded


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside PEFT, DDP and DeepSpeed wrappers."""
    while hasattr(model, "get_base_model") or hasattr(model, "module"):
        model = model.get_base_model() if hasattr(model, "get_base_model") else model.module
    return model


def _accepts_logits_to_keep(model: torch.nn.Module) -> bool:
    return "logits_to_keep" in inspect.signature(base_model(model).forward).parameters


def token_positions(model: torch.nn.Module, inputs: dict) -> torch.Tensor:
    """The position ids the model gives each token of ``inputs``: (R, T), or (axes, R, T) for
    multimodal rotary positions (computed by the model's own ``get_rope_index``).

    One-dimensional positions count real tokens from 0, so left padding does not shift them.
    """
    attention_mask = inputs["attention_mask"]
    inner = getattr(model, "model", None)
    rope_index = getattr(inner, "get_rope_index", None)
    if rope_index is not None:
        params = inspect.signature(rope_index).parameters
        kwargs = {k: v for k, v in inputs.items() if k in params and k != "input_ids"}
        return rope_index(inputs["input_ids"], **kwargs)[0]
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def score_batch(model: torch.nn.Module, encoded: dict[str, Any], keep_logits: bool = False) -> BatchScores:
    """Forward ``encoded`` (from :func:`mmalign.data.encoding.encode`) and score its responses.

    Logits are computed only from the first response position on (``logits_to_keep``), so the
    hundreds of media tokens before it never reach the LM head.
    """
    inputs = encoded["inputs"]
    input_ids = inputs["input_ids"]
    response_mask = encoded["response_mask"]
    first = int(response_mask.float().argmax(dim=1).min()) if response_mask.any() else 1
    keep = input_ids.shape[1] - max(first - 1, 0)
    kwargs = {"use_cache": False}
    if not bool(inputs["attention_mask"][:, 0].all()):
        # Left padding: models that infer positions from the sequence length would count the padding.
        kwargs["position_ids"] = token_positions(base_model(model), inputs)
    if _accepts_logits_to_keep(model):
        kwargs["logits_to_keep"] = keep
    logits = model(**inputs, **kwargs).logits[:, -keep:]
    # logits[:, i] predicts token start + i + 1
    start = input_ids.shape[1] - keep
    logits = logits[:, :-1]
    labels = input_ids[:, start + 1 :]
    mask = response_mask[:, start + 1 :]
    phrase_ids = encoded["phrase_ids"][:, start + 1 :]
    return BatchScores(
        token_logps=token_logps(logits, labels, mask),
        response_mask=mask,
        phrase_ids=phrase_ids,
        logits=logits if keep_logits else None,
    )


@torch.no_grad()
def score_pairs(
    model: torch.nn.Module,
    processor: Any,
    records: list[dict],
    batch_size: int = 8,
    media_root: str | None = None,
    num_frames: int | None = 16,
    fps: float | None = None,
    max_length: int | None = None,
) -> list[dict[str, Any]]:
    """Log-probabilities of each record's chosen and rejected responses, per phrase and in total.

    ``records`` are canonical dicts (``prompt``, ``chosen``, ``rejected`` with ``<MASK>`` tags, or
    untagged for a word-level diff; ``images`` as paths or PIL images, or ``video``). Returns one dict
    per record: ``chosen_phrase_logps`` and ``rejected_phrase_logps`` (one float per phrase),
    ``chosen_logp`` and ``rejected_logp`` (whole-response sums), and ``id``.
    """
    pairs = [pair_from_dict(r, source=f"records[{i}]", index=i) for i, r in enumerate(records)]
    dataset = PairDataset(pairs, media=MediaOptions(media_root, num_frames, fps))
    collator = PreferenceCollator(processor, max_length=max_length)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results = []
    for start in range(0, len(dataset), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        encoded = _to_device(batch["pair"], device)
        scores = score_batch(model, encoded)
        n = scores.token_logps.shape[0] // 2
        phrases = scores.phrase_logps().float().cpu()
        totals = scores.logps.float().cpu()
        for row in range(n):
            pair = pairs[start + row]
            k = pair.num_phrases
            results.append(
                {
                    "id": pair.id,
                    "chosen_phrase_logps": phrases[row, :k].tolist(),
                    "rejected_phrase_logps": phrases[n + row, :k].tolist(),
                    "chosen_logp": float(totals[row]),
                    "rejected_logp": float(totals[n + row]),
                }
            )
    model.train(was_training)
    return results


def _to_device(encoded: dict[str, Any], device: torch.device) -> dict[str, Any]:
    out = dict(encoded)
    out["inputs"] = {k: v.to(device) if torch.is_tensor(v) else v for k, v in encoded["inputs"].items()}
    out["response_mask"] = encoded["response_mask"].to(device)
    out["phrase_ids"] = encoded["phrase_ids"].to(device)
    return out
