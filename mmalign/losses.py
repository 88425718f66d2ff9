"""Preference-optimisation losses as pure tensor functions, one per method.

Methods and papers:

- DPA (HALVA): Sarkar et al., "Data-augmented phrase-level alignment for mitigating object
  hallucination", ICLR 2025, arXiv 2405.18654.
- RRPO: Sarkar et al., "Self-alignment of large video language models with refined regularized
  preference optimization", NeurIPS 2025, arXiv 2504.12083.
- DPO: Rafailov et al., "Direct preference optimization", NeurIPS 2023, arXiv 2305.18290.
- TDPO: Zeng et al., "Token-level direct preference optimization", ICML 2024, arXiv 2404.11999.
- DDPO: Yu et al., "RLHF-V: towards trustworthy MLLMs via behavior alignment from fine-grained
  correctional human feedback", CVPR 2024, arXiv 2312.00849 (dense direct preference optimization).

Shapes: B = pairs, T = tokens, V = vocabulary, N = phrase slots. Per-pair losses are returned
unreduced (B,) as in TRL, so the trainer decides how to average; ``dpa_loss`` returns the scalar
because its alignment term averages over phrases, not pairs. Rewards are returned attached to the
graph; callers detach them for logging.

Precision: every function keeps float32/float64 inputs in their dtype and upcasts lower-precision
inputs (bf16/fp16) to float32 before any softmax, so the log-probabilities, KLs and losses are in
float32 or wider.

Written here rather than taken from TRL: TRL's trainers compute these losses inside trainer methods
on whole sequences; phrase-level rewards (DPA, RRPO) and the TDPO sequential KL are not exposed there
as standalone functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "token_logps",
    "phrase_logps",
    "phrase_mask_from_ids",
    "token_kl",
    "dpa_loss",
    "PHRASE_REDUCTIONS",
    "rrpo_loss",
    "dpo_loss",
    "dense_logps",
    "tdpo_loss",
]

#: how DPA's alignment term averages its phrase terms (see :func:`dpa_loss`)
PHRASE_REDUCTIONS = ("official", "per_phrase")

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The dtype to compute softmaxes in: the widest input float dtype, at least float32."""
    dtype = torch.float32
    for t in tensors:
        if t.dtype not in _LOW_PRECISION:
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _row_logps(logits: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """log_softmax(logits)[..., index] as gather − logsumexp, without a log_softmax copy of logits."""
    return logits.gather(-1, index).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def token_logps(
    logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-token log-probabilities of ``labels``: ``logits[b,t,labels[b,t]] - logsumexp_v logits[b,t,v]``.

    Args:
        logits: (B, T, V), already aligned with ``labels`` (no shift is done here).
        labels: (B, T) long; positions with ``labels < 0`` (e.g. -100) are ignored.
        mask: optional (B, T) bool; positions where it is False are ignored.

    Returns:
        (B, T) log π(labels[b,t]); ignored positions are exactly 0. float32 for bf16/fp16
        logits, otherwise the logits' dtype.

    float32/float64 logits use ``logsumexp`` + ``gather`` on the logits directly (no second
    B×T×V copy); bf16/fp16 logits are upcast one row of the batch at a time.
    """
    valid = labels >= 0
    if mask is not None:
        valid = valid & mask.bool()
    index = labels.clamp(min=0).unsqueeze(-1)
    if logits.dtype in _LOW_PRECISION:
        logps = torch.stack([_row_logps(row.float(), idx) for row, idx in zip(logits, index)])
    else:
        logps = _row_logps(logits, index)
    return torch.where(valid, logps, torch.zeros_like(logps))


def _num_phrases(phrase_ids: torch.Tensor, num_phrases: int | None) -> int:
    """N for ``phrase_ids``: ``num_phrases`` if given, else ``max(phrase_ids.max(), 0)`` (0 when empty)."""
    if phrase_ids.numel() == 0:
        return 0 if num_phrases is None else int(num_phrases)
    lo, hi = (int(v) for v in torch.aminmax(phrase_ids))
    if lo < 0:
        raise ValueError(f"phrase_ids must be >= 0 (0 = no phrase), got a minimum of {lo}")
    if num_phrases is None:
        return hi
    if hi > num_phrases:
        raise ValueError(f"phrase_ids holds phrase {hi} but num_phrases={num_phrases}")
    return int(num_phrases)


def phrase_logps(
    token_logps: torch.Tensor, phrase_ids: torch.Tensor, num_phrases: int | None = None
) -> torch.Tensor:
    """Phrase log-probabilities: ``log π(y_k) = Σ_{t : phrase_ids[b,t] = k} token_logps[b,t]``.

    Args:
        token_logps: (B, T) per-token log-probabilities (e.g. from :func:`token_logps`).
        phrase_ids: (B, T) long; 0 = the token is in no phrase, k >= 1 = the token is in phrase k.
        num_phrases: N; default ``max(phrase_ids.max(), 0)``, so a batch without phrases gives N = 0.

    Returns:
        (B, N); slot k-1 holds phrase k. Slots of phrases absent from a row are 0 — use
        :func:`phrase_mask_from_ids` to tell them apart from real phrases.
    """
    n = _num_phrases(phrase_ids, num_phrases)
    out = token_logps.new_zeros(token_logps.shape[0], n + 1)  # slot 0 collects non-phrase tokens
    out = out.scatter_add(1, phrase_ids.long(), token_logps)
    return out[:, 1:]


def phrase_mask_from_ids(phrase_ids: torch.Tensor, num_phrases: int | None = None) -> torch.Tensor:
    """(B, N) bool: True where phrase k (slot k-1) has at least one token in that row.

    N follows the same rule as :func:`phrase_logps`.
    """
    n = _num_phrases(phrase_ids, num_phrases)
    present = torch.zeros(phrase_ids.shape[0], n + 1, dtype=torch.bool, device=phrase_ids.device)
    present = present.scatter(1, phrase_ids.long(), True)
    return present[:, 1:]


def token_kl(policy_logits: torch.Tensor, ref_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Token-wise KL (DPA eq. for L_d; RRPO's D_TKL; TDPO's D_SeqKL):

        D(x, y) = Σ_t mask_t · Σ_v π_ref(v|x,y_<t) · [log π_ref(v|x,y_<t) − log π_θ(v|x,y_<t)]

    i.e. KL(π_ref ‖ π_θ) over the full vocabulary at every masked position, summed over positions.

    Args:
        policy_logits, ref_logits: (B, T, V). The reference is normally detached by the caller;
            gradients flow into whatever requires them.
        mask: (B, T) bool, the response positions to sum over.

    Returns:
        (B,) in float32 for bf16/fp16 inputs, else in the widest input dtype.
    """
    dtype = _compute_dtype(policy_logits, ref_logits)
    policy_logp = F.log_softmax(policy_logits.to(dtype), dim=-1)
    ref_logp = F.log_softmax(ref_logits.to(dtype), dim=-1)
    kl_t = (ref_logp.exp() * (ref_logp - policy_logp)).sum(-1)  # (B, T)
    return torch.where(mask.bool(), kl_t, torch.zeros_like(kl_t)).sum(-1)


def dpa_loss(
    chosen_phrase_logps: torch.Tensor,
    rejected_phrase_logps: torch.Tensor,
    phrase_mask: torch.Tensor,
    kl: torch.Tensor,
    alpha: float,
    phrase_reduction: str = "official",
) -> torch.Tensor:
    """DPA / HALVA loss (arXiv 2405.18654):  L = L_a + α · L_d, with per-phrase terms

        ℓ_{b,i} = −log σ(log π_θ(y⁺_{b,i}) − log π_θ(y⁻_{b,i})) = −log[π(y⁺ᵢ) / (π(y⁺ᵢ) + π(y⁻ᵢ))]
        L_d     = (1 / B) Σ_b kl_b        (kl_b = token-wise KL on the reference sample, see token_kl)

    and L_a reduced in one of two ways over the (B, N) slot matrix (N = most phrases of any pair):

        "official":   L_a = (1 / (B·N)) Σ_{b,i} ℓ_{b,i}, an empty slot counting as ℓ = −log σ(0) = log 2
                      (a constant: no gradient). This is the official HALVA code's ``.mean()`` over
                      its B×K matrix whose empty slots hold 0 for both log-probs; α was tuned under it.
        "per_phrase": L_a = (1 / |P|) Σ_{(b,i) ∈ P} ℓ_{b,i}, the mean over real phrases only.

    P = {(b, i) : phrase_mask[b, i]} are the real phrases; empty slots never enter the gradient
    (masked with ``torch.where``, so inf/NaN there cannot leak). No reference model enters L_a.

    Args:
        chosen_phrase_logps, rejected_phrase_logps: (B, N) policy phrase log-probs.
        phrase_mask: (B, N) bool.
        kl: (B,) token-wise KL per pair.
        alpha: weight of L_d.
        phrase_reduction: ``"official"`` (default) or ``"per_phrase"``.

    Returns:
        scalar loss.
    """
    if phrase_reduction not in PHRASE_REDUCTIONS:
        raise ValueError(f"phrase_reduction must be one of {', '.join(PHRASE_REDUCTIONS)}, got {phrase_reduction!r}")
    mask = phrase_mask.bool()
    margin = torch.where(mask, chosen_phrase_logps - rejected_phrase_logps, 0.0)
    per_phrase = -F.logsigmoid(margin)  # an empty slot has margin 0: log 2
    if phrase_reduction == "official":
        align = per_phrase.mean() if per_phrase.numel() else per_phrase.sum()
    else:
        align = torch.where(mask, per_phrase, 0.0).sum() / mask.sum().clamp(min=1)
    return align + alpha * kl.mean()


def rrpo_loss(
    policy_chosen_phrase_logps: torch.Tensor,
    policy_rejected_phrase_logps: torch.Tensor,
    ref_chosen_phrase_logps: torch.Tensor,
    ref_rejected_phrase_logps: torch.Tensor,
    phrase_mask: torch.Tensor,
    chosen_kl: torch.Tensor,
    beta: float,
    alpha: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """RRPO loss (arXiv 2504.12083), per pair:

        r⁺ = β Σᵢ mᵢ [log π_θ(y⁺ᵢ) − log π_ref(y⁺ᵢ)]        r⁻ = β Σᵢ mᵢ [log π_θ(y⁻ᵢ) − log π_ref(y⁻ᵢ)]
        loss = −log σ(r⁺ − r⁻) + α · D_TKL(x, y⁺)

    (so r⁺ − r⁻ = Σᵢ [r_θ(x, y⁺ᵢ) − r_θ(x, y⁻ᵢ)], the refined phrase-level reward margin u.)
    m = phrase_mask; padding slots are excluded with ``torch.where``. ``chosen_kl`` is the
    token-wise KL over *all* tokens of y⁺ (:func:`token_kl`). The trainer averages over the batch.

    Ablations: "without the refined reward" (sequence-level reward) = the caller passes the whole
    response log-probs as a single phrase (N = 1, mask all True), which makes this DPO + α·D_TKL;
    "without the token-wise KL" = ``alpha = 0``.

    Args:
        *_phrase_logps: (B, N). phrase_mask: (B, N) bool. chosen_kl: (B,).

    Returns:
        (losses, chosen_rewards, rejected_rewards), each (B,); rewards are r⁺ and r⁻, attached.
    """
    mask = phrase_mask.bool()
    chosen_ratios = torch.where(mask, policy_chosen_phrase_logps - ref_chosen_phrase_logps, 0.0)
    rejected_ratios = torch.where(mask, policy_rejected_phrase_logps - ref_rejected_phrase_logps, 0.0)
    chosen_rewards = beta * chosen_ratios.sum(-1)
    rejected_rewards = beta * rejected_ratios.sum(-1)
    losses = -F.logsigmoid(chosen_rewards - rejected_rewards) + alpha * chosen_kl
    return losses, chosen_rewards, rejected_rewards


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sigmoid DPO loss (Rafailov et al. 2023, arXiv 2305.18290, eq. 7), per pair:

        r⁺ = β [log π_θ(y⁺) − log π_ref(y⁺)]      r⁻ = β [log π_θ(y⁻) − log π_ref(y⁻)]
        loss = −log σ(r⁺ − r⁻)

    Args: (B,) whole-response log-probs. Returns (losses, chosen_rewards, rejected_rewards),
    each (B,); rewards attached.
    """
    chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps)
    rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps)
    losses = -F.logsigmoid(chosen_rewards - rejected_rewards)
    return losses, chosen_rewards, rejected_rewards


def dense_logps(token_logps: torch.Tensor, response_mask: torch.Tensor, changed: torch.Tensor, gamma: float) -> torch.Tensor:
    """DDPO's dense response log-probability (RLHF-V, arXiv 2312.00849, eq. 5), per row:

        log π(y) = (Σ_{t ∈ U} log π(y_t) + γ · Σ_{t ∈ C} log π(y_t)) / (|U| + γ · |C|)

    C = the changed (corrected) segments, here the tagged phrases; U = every other response token.
    Plugged into :func:`dpo_loss` for both the policy and the reference, this is DDPO.

    Args:
        token_logps: (B, T) per-token log-probabilities (0 outside responses).
        response_mask: (B, T) bool, the scored response tokens.
        changed: (B, T) bool, the tokens inside tagged phrases (a subset of the response).
        gamma: weight γ > 0 of the changed tokens (RLHF-V uses 5).

    Returns:
        (B,) weighted mean log-probability; 0 for a row without response tokens.
    """
    response = response_mask.bool()
    changed = changed.bool() & response
    weights = torch.where(changed, gamma, 1.0) * response  # 0 outside the response
    weights = weights.to(token_logps.dtype)
    return (weights * token_logps).sum(-1) / weights.sum(-1).clamp(min=1e-12)


def tdpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    chosen_seq_kl: torch.Tensor,
    rejected_seq_kl: torch.Tensor,
    beta: float,
    alpha: float = 0.5,
    variant: str = "tdpo2",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TDPO loss (Zeng et al. 2024, arXiv 2404.11999, eqs. for TDPO1 and TDPO2), per pair:

        u = β [log π_θ(y⁺) − log π_ref(y⁺)] − β [log π_θ(y⁻) − log π_ref(y⁻)]
        TDPO1: loss = −log σ(u − (β·D_SeqKL(x,y⁻) − β·D_SeqKL(x,y⁺)))
        TDPO2: loss = −log σ(u − α·(β·D_SeqKL(x,y⁻) − sg(β·D_SeqKL(x,y⁺))))     sg = stop-gradient

    D_SeqKL(x, y; π_ref ‖ π_θ) = Σ_t KL(π_ref(·|x,y_<t) ‖ π_θ(·|x,y_<t)) over the response
    (:func:`token_kl`). ``alpha`` is used by TDPO2 only.

    Rewards follow the official TDPO code: r⁺ = β [log π_θ(y⁺) − log π_ref(y⁺) + D_SeqKL(x,y⁺)],
    r⁻ likewise (attached; the caller detaches for logging).

    Returns:
        (losses, chosen_rewards, rejected_rewards), each (B,).
    """
    if variant not in ("tdpo1", "tdpo2"):
        raise ValueError(f"tdpo variant must be 'tdpo1' or 'tdpo2', got {variant!r}")
    chosen_margin = policy_chosen_logps - ref_chosen_logps
    rejected_margin = policy_rejected_logps - ref_rejected_logps
    u = beta * (chosen_margin - rejected_margin)
    if variant == "tdpo1":
        delta = beta * rejected_seq_kl - beta * chosen_seq_kl
    else:
        delta = alpha * (beta * rejected_seq_kl - (beta * chosen_seq_kl).detach())
    losses = -F.logsigmoid(u - delta)
    chosen_rewards = beta * (chosen_margin + chosen_seq_kl)
    rejected_rewards = beta * (rejected_margin + rejected_seq_kl)
    return losses, chosen_rewards, rejected_rewards
