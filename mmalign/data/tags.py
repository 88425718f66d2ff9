"""Phrase tags: ``<MASK>…</MASK>`` spans in a response, and phrases derived by a word-level diff.

A pair's i-th tagged span in ``chosen`` is aligned with the i-th tagged span in ``rejected``
(DESIGN.md §3–4). Tags are parsed into plain text plus character spans so that the mapping to tokens
works for any tokenizer (see :mod:`mmalign.data.encoding`).
"""

from __future__ import annotations

import difflib
import re

OPEN_TAG = "<MASK>"
CLOSE_TAG = "</MASK>"
_TAG_RE = re.compile(r"</?MASK>")
# Anything a person may have meant as a tag: other cases, inner spaces, a self-closing slash.
_TAG_LIKE_RE = re.compile(r"<\s*/?\s*mask\s*/?\s*>", re.IGNORECASE)
# Characters that show nothing: a phrase of only these (or whitespace) has no words to score.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_BLANK = "".join(chr(c) for c in range(0x110000) if chr(c).isspace()) + INVISIBLE
# Words and single punctuation marks: the units of the automatic diff.
_WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")

Span = tuple[int, int]


class TagError(ValueError):
    """Malformed phrase tags (unbalanced, nested or empty)."""


def parse_tags(text: str) -> tuple[str, list[Span]]:
    """Strip ``<MASK>``/``</MASK>`` tags from ``text``.

    Returns ``(plain_text, spans)`` where ``spans[k] = (start, end)`` are character offsets in
    ``plain_text`` of the k-th tagged phrase. Raises :class:`TagError` on a closing tag without an
    opening one, a nested opening tag, a tag left open, or an empty phrase.
    """
    for match in _TAG_LIKE_RE.finditer(text):
        if match.group() not in (OPEN_TAG, CLOSE_TAG):
            raise TagError(f"malformed tag {match.group()!r} at character {match.start()}: "
                           f"phrase tags are exactly {OPEN_TAG} and {CLOSE_TAG}")
    pieces: list[str] = []
    spans: list[Span] = []
    plain_len = 0
    open_at: int | None = None
    cursor = 0
    for match in _TAG_RE.finditer(text):
        pieces.append(text[cursor : match.start()])
        plain_len += match.start() - cursor
        cursor = match.end()
        if match.group() == OPEN_TAG:
            if open_at is not None:
                raise TagError(f"nested {OPEN_TAG} at character {match.start()}")
            open_at = plain_len
        else:
            if open_at is None:
                raise TagError(f"{CLOSE_TAG} without {OPEN_TAG} at character {match.start()}")
            spans.append((open_at, plain_len))
            open_at = None
    if open_at is not None:
        raise TagError(f"{OPEN_TAG} is never closed")
    pieces.append(text[cursor:])
    plain = "".join(pieces)
    # Whitespace (and invisible characters) inside the tags is not part of the phrase: a token
    # holding it may be a neighbour's.
    trimmed = []
    for start, end in spans:
        phrase = plain[start:end]
        kept = visible(phrase)
        if not kept:
            raise TagError(f"empty tagged phrase at character {start}"
                           + ("" if not phrase.strip() else " (only invisible characters)"))
        start += len(phrase) - len(phrase.lstrip(_BLANK))
        trimmed.append((start, start + len(kept)))
    return plain, trimmed


def visible(text: str) -> str:
    """``text`` without leading and trailing whitespace or invisible characters (zero-width spaces…)."""
    return text.strip(_BLANK)


def has_tags(text: str) -> bool:
    """Whether ``text`` holds a phrase tag, or something that looks like one (``<mask>``, ``< MASK >``)."""
    return _TAG_LIKE_RE.search(text) is not None


def strip_tags(text: str) -> str:
    return _TAG_RE.sub("", text)


def strip_with_spans(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """Remove leading/trailing whitespace of ``text`` and shift ``spans`` to match."""
    start = len(text) - len(text.lstrip())
    stripped = text.strip()
    shifted = [(max(s - start, 0), min(e - start, len(stripped))) for s, e in spans]
    return stripped, shifted


def tag_text(text: str, spans: list[Span]) -> str:
    """Inverse of :func:`parse_tags`: insert tags around ``spans`` (sorted, non-overlapping)."""
    out, cursor = [], 0
    for start, end in spans:
        out += [text[cursor:start], OPEN_TAG, text[start:end], CLOSE_TAG]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def diff_spans(chosen: str, rejected: str) -> tuple[list[Span], list[Span]]:
    """Aligned phrase spans from a word-level diff of two responses.

    Every differing run of words becomes one phrase pair. A run present on one side only (an
    insertion or deletion) would give an empty phrase on the other side, which carries no
    log-probability; such a run is widened by its neighbouring shared word so both sides hold a
    real phrase. Returns ``([], [])`` when the texts have the same words.
    """
    chosen_words = [m.span() for m in _WORD_RE.finditer(chosen)]
    rejected_words = [m.span() for m in _WORD_RE.finditer(rejected)]
    matcher = difflib.SequenceMatcher(
        a=[chosen[s:e] for s, e in chosen_words],
        b=[rejected[s:e] for s, e in rejected_words],
        autojunk=False,
    )
    # Word-index ranges [i1, i2) / [j1, j2) of each differing run.
    runs: list[list[int]] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if i1 == i2 or j1 == j2:  # one side empty: widen by a shared neighbour
            if i2 < len(chosen_words) and j2 < len(rejected_words):
                i2, j2 = i2 + 1, j2 + 1
            elif i1 > 0 and j1 > 0:
                i1, j1 = i1 - 1, j1 - 1
        if runs and (i1 <= runs[-1][1] or j1 <= runs[-1][3]):
            runs[-1][1], runs[-1][3] = max(runs[-1][1], i2), max(runs[-1][3], j2)
        else:
            runs.append([i1, i2, j1, j2])
    chosen_spans = [(chosen_words[i1][0], chosen_words[i2 - 1][1]) for i1, i2, _, _ in runs if i2 > i1]
    rejected_spans = [(rejected_words[j1][0], rejected_words[j2 - 1][1]) for _, _, j1, j2 in runs if j2 > j1]
    if len(chosen_spans) != len(rejected_spans):  # one response empty: nothing to align
        return [], []
    return chosen_spans, rejected_spans


def differing_share(text: str, spans: list[Span]) -> float:
    """Share of the words of ``text`` that fall inside ``spans``."""
    words = [m.span() for m in _WORD_RE.finditer(text)]
    if not words:
        return 0.0
    inside = sum(1 for s, e in words if any(s < pe and e > ps for ps, pe in spans))
    return inside / len(words)
