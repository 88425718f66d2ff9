"""Log-probabilities and token-wise KL from final hidden states, a chunk of positions at a time.

The LM head is applied to at most ``chunk_size`` positions at once; log-softmax, the gather of the
scored tokens and the KL(π_ref ‖ π_θ) of each position are computed from that chunk's logits and
the logits are dropped. Under autograd each chunk is checkpointed, so its logits are recomputed in
the backward pass instead of being kept: nothing of size positions × vocabulary outlives a chunk.
Under DeepSpeed ZeRO-3 the LM head's weight is gathered and released around each call, a
collective that every process must make equally often and that activation checkpointing cannot
replay; there the head runs once per forward over all scored positions (still only those: never
the rows × positions × vocabulary of a full forward) and keeps its logits for the backward pass.
Formulas are those of :func:`mmalign.losses.token_logps` and :func:`mmalign.losses.token_kl`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

#: logits held at once, in elements (float32: 256 MiB)
CHUNK_ELEMENTS = 1 << 26


@dataclass
class HeadScores:
    policy_logps: torch.Tensor  # (S,) log π_θ of each scored token
    reference_logps: torch.Tensor | None  # (S,) log π_ref, no gradient
    kl: torch.Tensor | None  # (U,) KL(π_ref ‖ π_θ) at each scored position


def _log_softmax(logits: torch.Tensor) -> torch.Tensor:
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    return torch.log_softmax(logits.to(dtype), dim=-1)


def _chunk(
    policy_head: Callable[[torch.Tensor], torch.Tensor],
    reference_head: Callable[[torch.Tensor], torch.Tensor] | None,
    kl_grad: bool,
    policy_hidden: torch.Tensor,
    reference_hidden: torch.Tensor | None,
    local_source: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    policy = _log_softmax(policy_head(policy_hidden))
    policy_logps = policy[local_source, labels]
    if reference_hidden is None:
        return (policy_logps,)
    with torch.no_grad():
        reference = _log_softmax(reference_head(reference_hidden))
    kl_policy = policy if kl_grad else policy.detach()
    kl = (reference.exp() * (reference - kl_policy)).sum(-1)
    return policy_logps, reference[local_source, labels], kl


def score_hidden(
    policy_hidden: torch.Tensor,
    token_source: torch.Tensor,
    labels: torch.Tensor,
    policy_head: Callable[[torch.Tensor], torch.Tensor],
    reference_hidden: torch.Tensor | None = None,
    reference_head: Callable[[torch.Tensor], torch.Tensor] | None = None,
    kl_grad: bool = True,
    chunk_size: int | None = None,
    vocab_size: int | None = None,
) -> HeadScores:
    """Score tokens from the hidden states of the positions that predict them.

    Args:
        policy_hidden: (U, H) final hidden states of the policy at the scored positions.
        token_source: (S,) ascending; token s is predicted at position ``token_source[s]``.
        labels: (S,) token ids.
        policy_head, reference_head: hidden → logits (the LM heads).
        reference_hidden: (U, H) the reference's hidden states, or None (no reference scores, no KL).
        kl_grad: whether the KL carries gradients into the policy (False: a logged metric).
        chunk_size: positions per chunk; default ``CHUNK_ELEMENTS // vocab_size``.
    """
    positions = policy_hidden.shape[0]
    modules = [h for h in (policy_head, reference_head) if isinstance(h, torch.nn.Module)]
    replayable = not any(hasattr(p, "ds_id") for h in modules for p in h.parameters())
    if not replayable:
        chunk_size = max(positions, 1)
    elif chunk_size is None:
        chunk_size = max(1, CHUNK_ELEMENTS // max(int(vocab_size or 1), 1))
    bounds = torch.searchsorted(token_source, torch.arange(0, positions + chunk_size, chunk_size, device=token_source.device)).tolist()
    outputs: list[tuple[torch.Tensor, ...]] = []
    for i, start in enumerate(range(0, positions, chunk_size)):
        lo, hi = bounds[i], bounds[i + 1]
        args = (
            policy_hidden[start : start + chunk_size],
            None if reference_hidden is None else reference_hidden[start : start + chunk_size],
            token_source[lo:hi] - start,
            labels[lo:hi],
        )
        fn = lambda *a: _chunk(policy_head, reference_head, kl_grad, *a)  # noqa: E731
        if torch.is_grad_enabled() and policy_hidden.requires_grad and replayable:
            outputs.append(checkpoint(fn, *args, use_reentrant=False))
        else:
            outputs.append(fn(*args))
    if not outputs:
        empty = policy_hidden.new_zeros(0, dtype=torch.float32)
        return HeadScores(empty, None if reference_hidden is None else empty, None if reference_hidden is None else empty)
    parts = list(zip(*outputs))
    return HeadScores(
        policy_logps=torch.cat(parts[0]),
        reference_logps=torch.cat(parts[1]) if reference_hidden is not None else None,
        kl=torch.cat(parts[2]) if reference_hidden is not None else None,
    )
