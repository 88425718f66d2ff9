"""The fast forward: media encoded once, each pair's shared prefix forwarded once, logits in chunks.

:func:`score_fast` gives what the plain path (:func:`mmalign.scoring.score_batch` per model plus
:func:`mmalign.losses.token_kl`) gives — policy and reference log-probabilities of every scored
token and the token-wise KL of every row — with less work (DESIGN.md §6):

1. **Media once.** The vision tower and projector are frozen, so their output is the same for the
   chosen and the rejected row, for the policy and for the reference. It is computed once per
   distinct sample with the model's own ``get_image_features``/``get_video_features`` and handed
   to every forward through the model's own input for precomputed features (``mm_encoder_outputs``).
2. **Shared prefix.** Chosen and rejected rows of a pair share media, prompt and the response
   tokens before the first difference; that prefix is forwarded once with both continuations after
   it, under a block mask (:mod:`.layout`). Same for the reference forward.
3. **Logits only where scored, in chunks** (:mod:`.heads`); the final hidden states are read with a
   hook on the language model and the forward computes the LM head at a single position per row.

:func:`fast_path_unsupported` says when a model or setting rules this out (the trainers then use the
plain path and say so). Dropout, where enabled, draws one mask for the shared prefix of both
responses instead of one per row; in expectation nothing changes.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import Any

import torch

from ..scoring import BatchScores, ScoredBatch, base_model, token_positions
from .heads import score_hidden
from .layout import Layout, attention_mask_for, row_layout, shared_prefix_layout

__all__ = ["fast_path_unsupported", "shared_prefix_unsupported", "score_fast", "media_features"]

#: media kinds → the processor output holding their pixels
MEDIA_INPUTS = {"image": "pixel_values", "video": "pixel_values_videos"}
#: attention implementations that take the shared-prefix block mask
BLOCK_MASK_ATTENTION = ("sdpa", "eager", "flex_attention")


def _language_model(base: torch.nn.Module) -> torch.nn.Module | None:
    return getattr(getattr(base, "model", None), "language_model", None)


def fast_path_unsupported(model: torch.nn.Module) -> str | None:
    """Why the fast path cannot reproduce the plain path for ``model``, or None when it can."""
    base = base_model(model)
    name = type(base).__name__
    if _language_model(base) is None:
        return f"{name} has no separate language model (model.language_model)"
    params = inspect.signature(base.forward).parameters
    for needed in ("mm_encoder_outputs", "logits_to_keep", "position_ids"):
        if needed not in params:
            return f"{name}.forward takes no {needed}"
    if "token_type_ids" in params:
        return f"{name} takes token_type_ids (two-way attention over image tokens), which the fast forward does not carry"
    text_config = base.config.get_text_config()
    for attr in ("final_logit_softcapping", "logit_scale"):
        if getattr(text_config, attr, None) not in (None, 1.0):
            return f"{name} rescales its logits ({attr})"
    head = base.get_output_embeddings()
    if type(head) is not torch.nn.Linear:
        return "the LM head is adapted (it must stay a frozen or fully trained nn.Linear)"
    language = {id(p) for p in _language_model(base).parameters()} | {id(p) for p in head.parameters()}
    for pname, param in base.named_parameters():
        if param.requires_grad and id(param) not in language:
            return f"{pname} is trained: media features are not the same for policy and reference"
    return None


def shared_prefix_unsupported(model: torch.nn.Module) -> str | None:
    """Why pairs cannot share their prefix in one row under this attention implementation."""
    base = base_model(model)
    attn = str(getattr(base.config.get_text_config(), "_attn_implementation", None) or base.config._attn_implementation)
    if attn not in BLOCK_MASK_ATTENTION:
        return f"attention {attn} takes no block mask (use sdpa, or flex_attention on GPU)"
    return None


def _half(value: Any) -> Any:
    if torch.is_tensor(value) and value.dim() > 0 or isinstance(value, (list, tuple)):
        if len(value) % 2:
            raise ValueError("pair media inputs must hold the chosen rows' media then the same for the rejected rows")
        return value[: len(value) // 2]
    return value


@torch.no_grad()
def media_features(model: torch.nn.Module, inputs: dict[str, Any], pairs: bool) -> dict[str, Any]:
    """Each media kind's encoder output for ``inputs`` (``mm_encoder_outputs`` of the model's forward).

    ``pairs``: the rows are chosen rows then rejected rows with the same media, so every media input
    is the chosen half followed by an identical rejected half along its first dimension; only the
    chosen half is encoded.
    """
    inner = base_model(model).model
    out = {}
    for kind, key in MEDIA_INPUTS.items():
        if inputs.get(key) is None:
            continue
        method = getattr(inner, f"get_{kind}_features")
        accepted = inspect.signature(method).parameters
        kwargs = {k: v for k, v in inputs.items() if k in accepted and k != key and k not in ("input_ids", "attention_mask")}
        if pairs:
            kwargs = {k: _half(v) for k, v in kwargs.items()}
        out[kind] = method(_half(inputs[key]) if pairs else inputs[key], **kwargs, return_dict=True)
    return out


def _repeat_media(media: dict[str, Any]) -> dict[str, Any]:
    """Media outputs for chosen + rejected rows from the chosen rows' (row layout of a pair batch)."""
    out = {}
    for kind, output in media.items():
        pooled = output.pooler_output
        pooled = torch.cat([pooled, pooled]) if torch.is_tensor(pooled) else tuple(pooled) * 2
        out[kind] = type(output)(pooler_output=pooled)
    return out


def _check_pair_media(encoded: dict[str, Any], media_ids: list[int]) -> None:
    input_ids = encoded["inputs"]["input_ids"]
    if not media_ids:
        return
    counts = torch.isin(input_ids, torch.tensor(media_ids, device=input_ids.device)).sum(1)
    n = input_ids.shape[0] // 2
    if not torch.equal(counts[:n], counts[n:]):
        raise ValueError("the chosen and rejected rows of a pair hold different media")


def _media_token_ids(config: Any) -> list[int]:
    names = ("image_token_id", "image_token_index", "video_token_id", "video_token_index")
    return sorted({int(v) for n in names if isinstance(v := getattr(config, n, None), int)})


def final_hidden(
    model: torch.nn.Module, layout: Layout, attention_mask: Any, media: dict[str, Any]
) -> torch.Tensor:
    """Forward ``layout`` through ``model`` (its own forward, so DDP/DeepSpeed wrappers see it) and
    return the language model's final hidden states at the scored positions, (U, H)."""
    language = _language_model(base_model(model))
    captured: dict[str, torch.Tensor] = {}

    def keep(module, args, output):
        captured["hidden"] = output[0] if isinstance(output, tuple) else output.last_hidden_state

    handle = language.register_forward_hook(keep)
    try:
        model(
            input_ids=layout.input_ids,
            attention_mask=attention_mask,
            position_ids=layout.position_ids,
            mm_encoder_outputs=dict(media) or None,
            logits_to_keep=1,
            use_cache=False,
        )
    finally:
        handle.remove()
    return captured["hidden"][layout.source_rows, layout.source_cols]


def score_fast(
    model: torch.nn.Module,
    encoded: dict[str, Any],
    reference_policy: Callable[[], contextlib.AbstractContextManager] | None = None,
    pairs: bool = True,
    kl_grad: bool = True,
    share_prefix: bool = True,
    chunk_size: int | None = None,
) -> ScoredBatch:
    """Policy (and reference) scores of ``encoded`` (from :func:`mmalign.data.encoding.encode`).

    Args:
        reference_policy: a context manager factory yielding the reference model (None: no
            reference forward, no KL).
        pairs: rows are B chosen then B rejected rows of the same samples (media encoded once per
            pair; prefix shared when ``share_prefix``).
        kl_grad: whether the token-wise KL carries gradients (False: logged only).
        chunk_size: positions per LM-head chunk (default: 2^26 logits per chunk).

    Returns:
        :class:`mmalign.scoring.ScoredBatch` whose scores are laid out like
        :func:`mmalign.scoring.score_batch`'s (position t holds the prediction of token t + 1), and
        ``kl`` (R,) when a reference is given; ``layout`` tells what was forwarded.
    """
    base = base_model(model)
    inputs = encoded["inputs"]
    input_ids, response_mask = inputs["input_ids"], encoded["response_mask"]
    if pairs:
        _check_pair_media(encoded, _media_token_ids(base.config))
    media = media_features(model, inputs, pairs)
    with torch.no_grad():
        positions = token_positions(base, inputs)
    if pairs and share_prefix:
        pad = base.config.get_text_config().pad_token_id
        pad = int(input_ids[0, 0]) if pad is None else int(pad)
        layout = shared_prefix_layout(input_ids, inputs["attention_mask"], positions, response_mask, pad)
    else:
        layout = row_layout(input_ids, inputs["attention_mask"], positions, response_mask)
        if pairs:
            media = _repeat_media(media)
    attn = str(getattr(base.config.get_text_config(), "_attn_implementation", None) or base.config._attn_implementation)
    mask = attention_mask_for(layout, attn, base.get_output_embeddings().weight.dtype)

    reference_hidden = reference_head = None
    if reference_policy is not None:
        with torch.no_grad(), reference_policy() as reference:
            reference_hidden = final_hidden(reference, layout, mask, media)
            reference_head = base_model(reference).get_output_embeddings()
    policy_hidden = final_hidden(model, layout, mask, media)
    head = base.get_output_embeddings()
    scores = score_hidden(
        policy_hidden,
        layout.token_source,
        layout.token_labels,
        head,
        reference_hidden,
        reference_head,
        kl_grad=kl_grad,
        chunk_size=chunk_size,
        vocab_size=head.out_features,
    )

    def dense(values: torch.Tensor) -> torch.Tensor:
        out = values.new_zeros(layout.rows, layout.length - 1)
        return out.index_put((layout.token_rows, layout.token_cols), values)

    def batch_scores(values: torch.Tensor) -> BatchScores:
        return BatchScores(
            token_logps=dense(values),
            response_mask=response_mask[:, 1:].bool(),
            phrase_ids=encoded["phrase_ids"][:, 1:],
            logits=None,
        )

    kl = None
    if scores.kl is not None:
        kl = scores.kl.new_zeros(layout.rows).index_add(0, layout.token_rows, scores.kl[layout.token_source])
    return ScoredBatch(
        policy=batch_scores(scores.policy_logps),
        reference=None if scores.reference_logps is None else batch_scores(scores.reference_logps),
        kl=kl,
        layout=layout,
    )
