"""Chat-formatting and tokenisation through the model's own processor, with phrase→token mapping.

Tokenizer-agnostic phrase mapping (DESIGN.md §4): the conversation is rendered to text with the
processor's chat template while the character spans of every scored response and of every tagged
phrase are tracked; the text is tokenised once with offsets, and a token belongs to phrase k when its
character span overlaps phrase k's span.

The processor expands each media placeholder into many media tokens, which shifts token positions
but never touches text after the last placeholder. Responses always come after their media, so the
tokenizer's (unexpanded) ids and the processor's ids agree on the tail; positions are mapped by that
offset, and the agreement is checked token by token rather than assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import DataError
from .readers import split_placeholders
from .tags import Span


@dataclass
class Sequence:
    """One sequence to encode: a rendered conversation and what to score in it."""

    text: str
    scored_spans: list[Span]  # character ranges whose tokens are scored (responses)
    phrase_spans: list[Span] = field(default_factory=list)  # tagged phrases, in ``text`` coordinates
    images: list[Any] = field(default_factory=list)  # loaded PIL images
    video: Any = None  # a loaded VideoClip
    record_id: str = "?"
    source: str = "<memory>"


def user_content(text: str, num_images: int, has_video: bool) -> list[dict]:
    """Message content for a user turn; media go where placeholders are, else before the text."""
    parts = split_placeholders(text)
    placed = [p for p in parts if p in ("<image>", "<video>")]
    content: list[dict] = []
    if not placed:
        content += [{"type": "image"}] * num_images + ([{"type": "video"}] if has_video else [])
    for part in parts:
        if part == "<image>":
            content.append({"type": "image"})
        elif part == "<video>":
            content.append({"type": "video"})
        else:
            content.append({"type": "text", "text": part})
    return content


def render_chat(
    processor: Any,
    turns: list[tuple[str, str]],
    num_images: int = 0,
    has_video: bool = False,
    record_id: str = "?",
    source: str = "<memory>",
) -> tuple[str, list[Span], list[int]]:
    """Render (role, text) turns with the processor's chat template.

    Roles are ``system`` (first turn only), ``user`` and ``assistant``. Returns
    ``(text, scored_spans, content_starts)``: for every assistant turn, the character spans to score
    — the response text and the end-of-turn token that the model generates to stop (``</s>``,
    ``<|im_end|>``, ``<end_of_turn>`` …), never the template's whitespace or role headers — and
    where the response starts in ``text``. A template that renders no end-of-turn token after a
    response (llava-hf's LLaVA-1.5 template ends it with a space) gets the tokenizer's EOS token in
    place of that whitespace, which is the format the model was trained on (``… ASSISTANT: answer</s>``).
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    specials = _special_token_strings(tokenizer)
    messages: list[dict] = []
    responses: list[Span] = []  # (start, end) of each response text in the template's own rendering
    end_of_turn: list[Span] = []  # the end-of-turn token found after each response (empty span if none)
    first_user = True
    rendered = ""
    for role, text in turns:
        if role == "system":
            if messages:
                raise DataError("a system prompt must come first", source=source, record_id=record_id)
            messages.append({"role": "system", "content": [{"type": "text", "text": text}]})
            continue
        if role == "user":
            content = user_content(text, num_images if first_user else 0, has_video and first_user)
            first_user = False
            messages.append({"role": "user", "content": content})
            continue
        previous = rendered
        prefix = _apply_template(processor, messages, add_generation_prompt=True, source=source, record_id=record_id)
        messages.append({"role": "assistant", "content": [{"type": "text", "text": text}]})
        rendered = _apply_template(processor, messages, add_generation_prompt=False, source=source, record_id=record_id)
        if not (rendered.startswith(prefix) and rendered.startswith(previous)):
            raise DataError(
                "the chat template renders earlier turns differently once a response follows",
                source=source,
                record_id=record_id,
            )
        start = rendered.find(text, len(prefix))
        if start < 0:
            raise DataError(
                "the chat template does not reproduce the response text verbatim",
                source=source,
                record_id=record_id,
            )
        end = start + len(text)
        responses.append((start, end))
        end_of_turn.append(_end_of_turn_token(rendered, end, specials))
    return _with_end_of_turn(rendered, responses, end_of_turn, getattr(tokenizer, "eos_token", None))


def _special_token_strings(tokenizer: Any) -> list[str]:
    """The tokenizer's special tokens, longest first (so ``<|im_end|>`` wins over a shorter prefix)."""
    names = set(getattr(tokenizer, "all_special_tokens", None) or [])
    for token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if getattr(token, "special", False):
            names.add(str(token.content))
    return sorted((n for n in names if n), key=len, reverse=True)


def _end_of_turn_token(rendered: str, response_end: int, specials: list[str]) -> Span:
    """The span of the special token the template puts after a response (whitespace may come
    between), or an empty span at ``response_end`` when the template puts none there."""
    after = rendered[response_end:]
    stripped = after.lstrip()
    at = response_end + len(after) - len(stripped)
    for token in specials:
        if stripped.startswith(token):
            return (at, at + len(token))
    return (response_end, response_end)


def _with_end_of_turn(
    rendered: str, responses: list[Span], end_of_turn: list[Span], eos: str | None
) -> tuple[str, list[Span], list[int]]:
    """Scored spans (response + end-of-turn token) and starts; where the template put no end-of-turn
    token, insert ``eos`` in place of the whitespace that follows the response."""
    pieces: list[str] = []
    scored: list[Span] = []
    starts: list[int] = []
    cursor = shift = 0  # cursor: position in ``rendered``; shift: output position − rendered position
    for (start, end), (eot_start, eot_end) in zip(responses, end_of_turn):
        pieces.append(rendered[cursor:end])
        starts.append(start + shift)
        scored.append((start + shift, end + shift))
        if eot_end > eot_start:
            scored.append((eot_start + shift, eot_end + shift))
            cursor = end
        elif eos:
            whitespace = len(rendered[end:]) - len(rendered[end:].lstrip())
            pieces.append(eos)
            scored.append((end + shift, end + shift + len(eos)))
            shift += len(eos) - whitespace
            cursor = end + whitespace
        else:
            cursor = end
    pieces.append(rendered[cursor:])
    return "".join(pieces), scored, starts


def _apply_template(
    processor: Any, messages: list[dict], add_generation_prompt: bool, source: str = "<memory>", record_id: str = "?"
) -> str:
    try:
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as err:  # noqa: BLE001 — jinja raises TemplateError, templates raise their own errors
        roles = "/".join(dict.fromkeys(m["role"] for m in messages))
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"the chat template cannot render {roles} turns: {message}", source=source, record_id=record_id) from None
    return text if isinstance(text, str) else text[0]


def encode(
    processor: Any,
    sequences: list[Sequence],
    max_length: int | None = None,
    processor_kwargs: dict | None = None,
) -> dict[str, Any]:
    """Encode sequences into one right-padded model batch.

    Returns ``{"inputs": <processor output>, "response_mask": (B, T) bool, "phrase_ids": (B, T) long}``
    where ``response_mask[b, t]`` marks token t as scored and ``phrase_ids[b, t] = k`` (k ≥ 1) puts it
    in the k-th phrase. Raises :class:`DataError` (with the record id) for a sample longer than
    ``max_length`` or a phrase that covers no token; nothing is ever truncated.
    """
    tokenizer = getattr(processor, "tokenizer", processor)
    texts = [s.text for s in sequences]
    add_special = _add_special_tokens(tokenizer, texts[0])
    kwargs = dict(processor_kwargs or {})
    videos = [s.video for s in sequences if s.video is not None]
    if any(s.images for s in sequences):
        # One list per text: Gemma 3's and Idefics3/SmolVLM's processors assign images to texts
        # only this way; the others accept it too.
        kwargs["images"] = [list(s.images) for s in sequences]
    if videos:
        kwargs["videos"] = [clip.frames for clip in videos]
        kwargs.setdefault("do_sample_frames", False)
        metadata = [clip.metadata() for clip in videos]
        kwargs.setdefault("video_metadata", metadata)
    inputs = processor(
        text=texts,
        return_tensors="pt",
        padding=True,
        padding_side="right",
        add_special_tokens=add_special,
        **kwargs,
    )
    plain = tokenizer(texts, return_offsets_mapping=True, add_special_tokens=add_special)
    input_ids = inputs["input_ids"]
    lengths = inputs["attention_mask"].sum(dim=1).tolist()
    response_mask = torch.zeros_like(input_ids, dtype=torch.bool)
    phrase_ids = torch.zeros_like(input_ids)
    for row, seq in enumerate(sequences):
        length = int(lengths[row])
        if max_length is not None and length > max_length:
            raise DataError(
                f"sample is {length} tokens long, over max_length={max_length} "
                "(media tokens are never truncated: raise max_length or drop the sample)",
                source=seq.source,
                record_id=seq.record_id,
            )
        ids, offsets = plain["input_ids"][row], plain["offset_mapping"][row]
        shift = length - len(ids)
        covered = [0] * len(seq.phrase_spans)
        for j, (start, end) in enumerate(offsets):
            if not any(start < e and end > s for s, e in seq.scored_spans):
                continue
            if shift < 0 or input_ids[row, j + shift].item() != ids[j]:
                raise DataError(
                    "the processor's tokens differ from the tokenizer's inside the response; "
                    "this model's processor is not supported",
                    source=seq.source,
                    record_id=seq.record_id,
                )
            response_mask[row, j + shift] = True
            for k, (s, e) in enumerate(seq.phrase_spans):
                if start < e and end > s:
                    phrase_ids[row, j + shift] = k + 1
                    covered[k] += 1
                    break
        for k, count in enumerate(covered):
            if count == 0:
                s, e = seq.phrase_spans[k]
                raise DataError(
                    f"phrase {k + 1} {seq.text[s:e]!r} covers no token", source=seq.source, record_id=seq.record_id
                )
    return {"inputs": dict(inputs), "response_mask": response_mask, "phrase_ids": phrase_ids}


def _add_special_tokens(tokenizer: Any, text: str) -> bool:
    # Chat templates that begin with BOS already carry their special tokens (transformers' convention).
    bos = getattr(tokenizer, "bos_token", None)
    return not (bos and text.startswith(bos))
