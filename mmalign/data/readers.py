"""Readers for the pair formats of DESIGN.md §4, with ``format="auto"`` detection per record.

Pair formats:
  ``dpa``        official HALVA files: ``correct_answer_masked`` / ``hallucinated_answer_masked``.
  ``rrpo``       official RRPO files: ``answer_masked`` / ``pred_masked``, ``video``, ``sample_id``.
  ``canonical``  this project's JSONL: ``prompt``, ``chosen``, ``rejected`` with ``<MASK>`` tags.
  ``preference`` the common ``prompt``/``chosen``/``rejected`` format (TRL, many Hub sets); phrases
                 come from a word-level diff of chosen vs rejected.
Reference-sample formats (DPA's KL term): LLaVA conversations (``conversations`` with
``from: human|gpt``) or canonical ``{id, prompt, response, images | video}``.

Every problem is a :class:`~mmalign.errors.DataError` naming ``file:line`` and the record id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import DataError
from .jsonio import iter_json_records
from .records import Conversation, PairRecord
from .tags import TagError, diff_spans, has_tags, parse_tags, strip_with_spans, visible

PAIR_FORMATS = ("auto", "dpa", "rrpo", "canonical", "preference")
REF_FORMATS = ("auto", "llava", "canonical")
IMAGE_PLACEHOLDER = "<image>"
VIDEO_PLACEHOLDER = "<video>"
_PLACEHOLDER_RE = re.compile(r"\s*(<image>|<video>)\s*")


def detect_pair_format(record: dict) -> str:
    if "correct_answer_masked" in record:
        return "dpa"
    if "answer_masked" in record and "pred_masked" in record:
        return "rrpo"
    if "chosen" in record and "rejected" in record:
        # Tags on either side make it canonical: tags in only one response are then reported as a
        # phrase-count mismatch instead of being diffed as literal text.
        tagged = has_tags(_message_text(record["chosen"])) or has_tags(_message_text(record["rejected"]))
        return "canonical" if tagged else "preference"
    raise ValueError(
        "cannot tell the format: expected correct_answer_masked (DPA), answer_masked/pred_masked "
        "(RRPO) or chosen/rejected fields"
    )


def read_pairs(path: str | Path, format: str = "auto") -> list[PairRecord]:
    """Read every pair of a JSON/JSONL file, or of a ``datasets`` dataset name (``name[:split]``)."""
    if format not in PAIR_FORMATS:
        raise DataError(f"unknown pair format {format!r}; expected one of {', '.join(PAIR_FORMATS)}")
    records, seen = [], {}
    for source, raw in iter_records(path):
        record = pair_from_dict(raw, format=format, source=source, index=len(records))
        if record.id in seen:
            raise DataError(f"duplicate id (first at {seen[record.id]})", source=source, record_id=record.id)
        seen[record.id] = source
        records.append(record)
    if not records:
        raise DataError(f"no records in {path}")
    return records


def pair_from_dict(raw: dict, format: str = "auto", source: str = "<memory>", index: int = 0) -> PairRecord:
    """Turn one raw record of any pair format into a validated :class:`PairRecord`."""
    record_id = str(raw.get("id", raw.get("sample_id", index)))
    try:
        fmt = detect_pair_format(raw) if format == "auto" else format
        prompt_raw, chosen_raw, rejected_raw, kind = _pair_fields(raw, fmt)
        if has_tags(prompt_raw):
            raise ValueError("the prompt holds a phrase tag; tags mark phrases of chosen/rejected only")
        for name, text in (("chosen", chosen_raw), ("rejected", rejected_raw)):
            placeholder = _PLACEHOLDER_RE.search(text)
            if placeholder:
                raise ValueError(f"{name} holds the media placeholder {placeholder.group().strip()}; "
                                 "placeholders belong in the prompt")
        if fmt == "preference":
            if has_tags(chosen_raw) or has_tags(rejected_raw):
                raise ValueError("format=preference takes untagged text, but this record has <MASK> tags "
                                 "(use format=canonical or format=auto)")
            chosen, rejected = chosen_raw.strip(), rejected_raw.strip()
            chosen_spans, rejected_spans = diff_spans(chosen, rejected)
        else:
            chosen, chosen_spans = _parse_response(chosen_raw, "chosen")
            rejected, rejected_spans = _parse_response(rejected_raw, "rejected")
        if not visible(chosen):
            raise ValueError("empty chosen response")
        if not visible(rejected):
            raise ValueError("empty rejected response")
        if len(chosen_spans) != len(rejected_spans):
            raise ValueError(
                f"chosen has {len(chosen_spans)} tagged phrases but rejected has {len(rejected_spans)}"
            )
        if chosen == rejected or (fmt == "preference" and not chosen_spans):
            raise ValueError("chosen and rejected are identical: nothing to prefer")
        if chosen_spans and all(chosen[s:e] == rejected[rs:re_] for (s, e), (rs, re_) in zip(chosen_spans, rejected_spans)):
            raise ValueError("every tagged phrase of chosen equals its rejected phrase: nothing to prefer")
        images, video = _media_fields(raw)
        _check_placeholders([prompt_raw], images, video)
        prompt = strip_placeholders(prompt_raw)
    except (ValueError, TypeError, KeyError) as err:
        raise DataError(_describe(err), source=source, record_id=record_id) from None
    return PairRecord(
        id=record_id,
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        chosen_spans=chosen_spans,
        rejected_spans=rejected_spans,
        images=images,
        video=video,
        kind=kind,
        source=source,
        answer=raw.get("raw_answer") if isinstance(raw.get("raw_answer"), str) else None,
    )


def read_conversations(path: str | Path, format: str = "auto") -> list[Conversation]:
    """Read reference samples (LLaVA conversation format or canonical prompt/response)."""
    if format not in REF_FORMATS:
        raise DataError(f"unknown reference format {format!r}; expected one of {', '.join(REF_FORMATS)}")
    out = []
    for source, raw in iter_records(path):
        record_id = str(raw.get("id", len(out)))
        try:
            out.append(conversation_from_dict(raw, format, source, record_id))
        except (ValueError, TypeError, KeyError) as err:
            raise DataError(_describe(err), source=source, record_id=record_id) from None
    if not out:
        raise DataError(f"no records in {path}")
    return out


def conversation_from_dict(raw: dict, format: str, source: str, record_id: str) -> Conversation:
    fmt = format
    if fmt == "auto":
        fmt = "llava" if "conversations" in raw else "canonical"
    if fmt == "llava":
        roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
        turns = []
        conversations = raw["conversations"]
        if not isinstance(conversations, list):
            raise TypeError(f"field 'conversations' must be a list of turns, got {type(conversations).__name__}")
        for i, turn in enumerate(conversations):
            if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
                raise TypeError(f"turn {i} of conversations must be an object with a text 'value'")
            if turn.get("from") not in roles:
                raise ValueError(f"unknown speaker {turn.get('from')!r} in conversations")
            turns.append((roles[turn["from"]], turn["value"]))
    else:
        turns = [("user", _message_text(raw["prompt"])), ("assistant", _message_text(raw["response"]))]
    if not turns or turns[0][0] != "user":
        raise ValueError("a conversation must start with a user turn")
    for i, (role, text) in enumerate(turns):
        if role == ("user" if i % 2 else "assistant"):
            raise ValueError("user and assistant turns must alternate")
        if role == "assistant" and not visible(text):
            raise ValueError(f"empty response in turn {i}")
        placeholder = _PLACEHOLDER_RE.search(text) if role == "assistant" else None
        if placeholder:
            raise ValueError(f"turn {i} (an answer) holds the media placeholder {placeholder.group().strip()}; "
                             "placeholders belong in user turns")
    if turns[-1][0] != "assistant":
        turns = turns[:-1]  # a trailing question without an answer carries nothing to score
    if not turns:
        raise ValueError("no assistant turn: nothing to score")
    images, video = _media_fields(raw)
    _check_placeholders([text for role, text in turns if role == "user"], images, video)
    return Conversation(id=record_id, turns=turns, images=images, video=video, source=source)


def iter_records(path: str | Path) -> Iterator[tuple[str, dict]]:
    """``(source, raw record)`` of a JSON/JSONL file (source ``file:line``) or of a ``datasets``
    dataset ``name[:split]`` (source ``name[index]``)."""
    local = Path(path).expanduser()
    if local.exists() or str(path).endswith((".json", ".jsonl")):
        for lineno, raw in iter_json_records(local):
            yield f"{local}:{lineno}", raw
        return
    name, _, split = str(path).partition(":")
    try:
        import datasets

        dataset = datasets.load_dataset(name, split=split or "train")
    except Exception as err:  # noqa: BLE001 — datasets raises many types; report in one line
        raise DataError(f"cannot load data {path!r}: not a local file, and datasets says: {err}") from None
    for index, raw in enumerate(dataset):
        yield f"{name}[{index}]", dict(raw)


def _pair_fields(raw: dict, fmt: str) -> tuple[str, str, str, str | None]:
    """(prompt, chosen, rejected, kind) of a raw record in format ``fmt``."""
    if fmt == "dpa":
        return (
            _text(raw, "question"),
            _text(raw, "correct_answer_masked"),
            _text(raw, "hallucinated_answer_masked"),
            raw.get("tag"),
        )
    if fmt == "rrpo":
        return (
            _text(raw, "question"),
            _text(raw, "answer_masked"),
            _text(raw, "pred_masked"),
            raw.get("kind", "selfalign"),
        )
    if fmt in ("canonical", "preference"):
        return (
            _message_text(raw["prompt"]),
            _message_text(raw["chosen"]),
            _message_text(raw["rejected"]),
            raw.get("kind"),
        )
    raise ValueError(f"unknown pair format {fmt!r}")


def _parse_response(text: str, name: str) -> tuple[str, list]:
    try:
        plain, spans = parse_tags(text)
    except TagError as err:
        raise ValueError(f"{name}: {err}") from None
    return strip_with_spans(plain, spans)


def _text(raw: dict, key: str) -> str:
    if key not in raw:
        raise KeyError(key)
    value = raw[key]
    if not isinstance(value, str):
        raise TypeError(f"field {key!r} must be a string, got {type(value).__name__}")
    return value


def _message_text(value: Any) -> str:
    """Text of a plain string or of a conversational value (list of messages / content parts)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _message_text(value.get("content", value.get("text", "")))
    if isinstance(value, list):
        parts = [_message_text(v) for v in value if not (isinstance(v, dict) and v.get("role") == "system")]
        return "\n".join(p for p in parts if p)
    raise TypeError(f"expected text, got {type(value).__name__}")


def _media_fields(raw: dict) -> tuple[list[Any], str | None]:
    """A record's images (paths or decoded images) and video path. A null field means none; a
    field of another type, or an empty path, is an error (never a record silently trained without)."""
    key = "images" if "images" in raw else "image"
    images = raw.get(key)
    if images is None:
        images = []
    elif not isinstance(images, list):
        images = [images]
    for image in images:
        if not isinstance(image, str) and not hasattr(image, "convert"):  # a path or a PIL image
            raise TypeError(f"field {key!r} must be a path or a list of paths, got {raw.get(key)!r}")
    # The official RRPO loader reads the video from ``media_path`` (``video`` may name it only).
    field_name = "media_path" if raw.get("media_path") is not None else "video"
    video = raw.get(field_name)
    if video is not None and (not isinstance(video, str) or not video.strip()):
        raise ValueError(f"field {field_name!r} must be a path, got {video!r}")
    if images and video:
        raise ValueError("a record holds either images or a video, not both")
    return images, video


def _check_placeholders(texts: list[str], images: list[Any], video: str | None) -> None:
    """``<image>`` placeholders, where a text places them, must match the record's images one to
    one (and ``<video>`` its video): a model given more or fewer would misplace or drop media."""
    for placeholder, count in ((IMAGE_PLACEHOLDER, len(images)), (VIDEO_PLACEHOLDER, int(video is not None))):
        found = sum(text.count(placeholder) for text in texts)
        if found and found != count:
            media = "images" if placeholder == IMAGE_PLACEHOLDER else "videos"
            raise ValueError(f"the text holds {found} {placeholder} placeholder(s) but the record has {count} {media}")


def strip_placeholders(text: str) -> str:
    """Remove ``<image>``/``<video>`` placeholders: the processor places media itself."""
    return _PLACEHOLDER_RE.sub(" ", text).strip()


def split_placeholders(text: str) -> list[str]:
    """Split a user turn on media placeholders: ``"a <image> b"`` -> ``["a", "<image>", "b"]``."""
    parts = re.split(r"(<image>|<video>)", text)
    return [p.strip() for p in parts if p.strip()]


def _describe(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"missing field {err.args[0]!r}"
    return str(err)
