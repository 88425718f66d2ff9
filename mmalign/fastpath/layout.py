"""Where every token of an encoded batch goes in the fast forward, and which positions are scored.

A pair's chosen and rejected rows hold the same media and prompt and usually the same first response
tokens. The *shared-prefix* layout puts each pair in one row: the common prefix once, then the
chosen continuation, then the rejected continuation, each continuation attending to the prefix and
to itself only. Position ids are the ones each token has in its own original row, so the prefix
keeps its positions and the rejected continuation restarts where the prefix ends (for multimodal
rotary positions too: they are gathered from the original rows, whatever their number of axes).

The *row* layout keeps the original rows (for the reference samples of DPA, which pair with nothing,
and for attention kernels that take no block mask).

Scoring: token t of an original row is predicted by the position holding token t − 1; a position
of the shared prefix predicts for both rows, so its logits are computed once (``unique`` below).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: segment of a padding position in :attr:`Layout.segments`
PADDING = -1


@dataclass
class Layout:
    """Rows to forward and the map from the original rows' scored tokens into them."""

    input_ids: torch.Tensor  # (Rf, Lf)
    position_ids: torch.Tensor  # (..., Rf, Lf)
    attention_mask: torch.Tensor  # (Rf, Lf) long: 1 real token, 0 padding
    segments: torch.Tensor | None  # (Rf, Lf) long, shared layout only: 0 prefix, 1 chosen, 2 rejected, -1 padding
    source_rows: torch.Tensor  # (U,) forwarded row of each position whose logits are needed
    source_cols: torch.Tensor  # (U,) its column
    token_rows: torch.Tensor  # (S,) original row of each scored token
    token_cols: torch.Tensor  # (S,) original column of the token, minus one (the BatchScores layout)
    token_labels: torch.Tensor  # (S,) the token id
    token_source: torch.Tensor  # (S,) index into source_rows/source_cols, sorted ascending
    rows: int  # R, original rows
    length: int  # T, original columns

    @property
    def shared(self) -> bool:
        return self.segments is not None

    @property
    def forwarded_tokens(self) -> int:
        return int(self.attention_mask.sum())


def row_layout(input_ids: torch.Tensor, attention_mask: torch.Tensor, positions: torch.Tensor, response_mask: torch.Tensor) -> Layout:
    """Each original row forwarded as it is."""
    rows, length = input_ids.shape
    row_index = torch.arange(rows, device=input_ids.device)[:, None].expand(rows, length)
    col_index = torch.arange(length, device=input_ids.device)[None].expand(rows, length)
    return _scored(
        input_ids, positions, attention_mask.long(), None, row_index, col_index, input_ids, response_mask
    )


def shared_prefix_layout(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    positions: torch.Tensor,
    response_mask: torch.Tensor,
    pad_token_id: int,
) -> Layout:
    """Pairs (rows i and B + i) forwarded as one row each: shared prefix, chosen, rejected.

    The prefix is the longest run of identical leading real tokens with identical positions.
    Works for left, right or mixed padding.
    """
    rows, length = input_ids.shape
    if rows % 2:
        raise ValueError(f"a pair batch has an even number of rows (chosen then rejected), got {rows}")
    pairs = rows // 2
    device = input_ids.device
    real = attention_mask.bool()
    axes = positions.shape[:-2]
    pos = positions.reshape(-1, rows, length)
    row_of = torch.full((rows, length), -1, dtype=torch.long, device=device)
    col_of = torch.full((rows, length), -1, dtype=torch.long, device=device)
    pieces = []
    for b in range(pairs):
        c_idx, r_idx = real[b].nonzero()[:, 0], real[pairs + b].nonzero()[:, 0]
        c_ids, r_ids = input_ids[b, c_idx], input_ids[pairs + b, r_idx]
        n = min(len(c_idx), len(r_idx))
        same = (c_ids[:n] == r_ids[:n]) & (pos[:, b, c_idx[:n]] == pos[:, pairs + b, r_idx[:n]]).all(0)
        differ = (~same).nonzero()
        prefix = int(differ[0, 0]) if len(differ) else n
        n_c = len(c_idx)
        ids = torch.cat([c_ids, r_ids[prefix:]])
        seg = torch.cat(
            [
                torch.zeros(prefix, dtype=torch.long, device=device),
                torch.ones(n_c - prefix, dtype=torch.long, device=device),
                torch.full((len(r_idx) - prefix,), 2, dtype=torch.long, device=device),
            ]
        )
        p = torch.cat([pos[:, b, c_idx], pos[:, pairs + b, r_idx[prefix:]]], dim=-1)
        row_of[b, c_idx] = b
        col_of[b, c_idx] = torch.arange(n_c, device=device)
        row_of[pairs + b, r_idx] = b
        j = torch.arange(len(r_idx), device=device)
        col_of[pairs + b, r_idx] = torch.where(j < prefix, j, n_c + j - prefix)
        pieces.append((ids, seg, p))
    width = max(len(ids) for ids, _, _ in pieces)
    fused_ids = torch.full((pairs, width), pad_token_id, dtype=input_ids.dtype, device=device)
    segments = torch.full((pairs, width), PADDING, dtype=torch.long, device=device)
    fused_pos = torch.zeros((pos.shape[0], pairs, width), dtype=positions.dtype, device=device)
    for b, (ids, seg, p) in enumerate(pieces):
        fused_ids[b, : len(ids)] = ids
        segments[b, : len(ids)] = seg
        fused_pos[:, b, : len(ids)] = p
    fused_mask = (segments != PADDING).long()
    fused_pos = fused_pos.reshape(*axes, pairs, width)
    return _scored(fused_ids, fused_pos, fused_mask, segments, row_of, col_of, input_ids, response_mask)


def _scored(
    fused_ids: torch.Tensor,
    fused_pos: torch.Tensor,
    fused_mask: torch.Tensor,
    segments: torch.Tensor | None,
    row_of: torch.Tensor,
    col_of: torch.Tensor,
    input_ids: torch.Tensor,
    response_mask: torch.Tensor,
) -> Layout:
    rows, length = input_ids.shape
    mask = response_mask.bool().clone()
    mask[:, 0] = False  # the first token has no predecessor (never a response token in practice)
    token_rows, token_cols = mask.nonzero(as_tuple=True)
    src_rows, src_cols = row_of[token_rows, token_cols - 1], col_of[token_rows, token_cols - 1]
    if bool((src_cols < 0).any()):
        raise ValueError("a response token follows padding: the batch is not left- or right-padded")
    width = fused_ids.shape[1]
    unique, inverse = torch.unique(src_rows * width + src_cols, return_inverse=True)
    order = torch.argsort(inverse, stable=True)
    return Layout(
        input_ids=fused_ids,
        position_ids=fused_pos,
        attention_mask=fused_mask,
        segments=segments,
        source_rows=unique // width,
        source_cols=unique % width,
        token_rows=token_rows[order],
        token_cols=token_cols[order] - 1,
        token_labels=input_ids[token_rows, token_cols][order],
        token_source=inverse[order],
        rows=rows,
        length=length,
    )


def block_mask_allowed(segments: torch.Tensor) -> torch.Tensor:
    """(Rf, 1, Lf, Lf) bool: query q may attend key k (causal; a continuation sees the prefix and
    itself, never the other continuation; padding sees only itself, so no row is empty)."""
    width = segments.shape[1]
    q = torch.arange(width, device=segments.device)
    causal = q[None, :] <= q[:, None]
    seg_q, seg_k = segments[:, :, None], segments[:, None, :]
    allowed = causal[None] & (seg_k != PADDING) & ((seg_k == 0) | (seg_k == seg_q))
    allowed = allowed | torch.eye(width, dtype=torch.bool, device=segments.device)[None]
    return allowed[:, None]


def attention_mask_for(layout: Layout, implementation: str, dtype: torch.dtype) -> object:
    """The attention mask to hand the model for ``layout`` under attention ``implementation``.

    Row layouts keep the ordinary 2-D padding mask (every kernel takes it). Shared layouts need a
    block mask: a 4-D boolean mask for SDPA, an additive one for eager attention, a ``BlockMask``
    for FlexAttention (sparse: fully masked blocks are skipped, nothing dense is built).
    """
    if not layout.shared:
        return layout.attention_mask
    if implementation == "flex_attention":
        from torch.nn.attention.flex_attention import create_block_mask

        segments = layout.segments

        def mask_mod(b, h, q, k):
            seg_q, seg_k = segments[b, q], segments[b, k]
            visible = (k <= q) & (seg_k != PADDING) & ((seg_k == 0) | (seg_k == seg_q))
            return visible | (k == q)

        rows, width = segments.shape
        return create_block_mask(mask_mod, rows, None, width, width, device=segments.device)
    allowed = block_mask_allowed(layout.segments)
    if implementation == "eager":
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)
    return allowed
