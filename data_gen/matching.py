"""Checking closed-form answers (multiple choice, yes/no, short) and aligning the ground truth
with a wrong answer, by normalised matching: no LLM needed.

An answer's *type*: ``mc`` when the record lists options, ``yesno`` for a yes/no ground truth,
``short`` for at most ``short_words`` words, else ``open`` (judged by an LLM).
"""

from __future__ import annotations

import re
import string

LETTERS = string.ascii_uppercase
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT_RE = re.compile(r"[^\w\s]")
_YES_NO_RE = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_LETTER_RE = re.compile(r"^\s*(?:the\s+answer\s+is\s*:?\s*)?\(?([A-Z])\)?(?=[\s.:)]|$)", re.IGNORECASE)


def normalize(text: str) -> str:
    text = _PUNCT_RE.sub(" ", str(text).lower())
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def answer_type(answer: str, options: list[str] | None, short_words: int) -> str:
    if options:
        return "mc"
    if normalize(answer) in ("yes", "no"):
        return "yesno"
    return "short" if len(normalize(answer).split()) <= short_words else "open"


def option_letter(text: str, options: list[str]) -> str | None:
    """The option a text picks: a leading letter (``B``, ``(B)``, ``B.``) or an option's exact text."""
    match = _LETTER_RE.match(text)
    if match and match.group(1).upper() in LETTERS[: len(options)]:
        return match.group(1).upper()
    norm = normalize(text)
    hits = [LETTERS[i] for i, option in enumerate(options) if normalize(option) == norm]
    return hits[0] if len(hits) == 1 else None


def is_correct(prediction: str, answer: str, kind: str, options: list[str] | None = None) -> bool:
    if kind == "mc":
        truth = option_letter(answer, options or [])
        return truth is not None and option_letter(prediction, options or []) == truth
    if kind == "yesno":
        found = _YES_NO_RE.search(prediction)
        return bool(found) and found.group(1).lower() == normalize(answer)
    return normalize(prediction) == normalize(answer)


def aligned_truth(prediction: str, answer: str, kind: str, options: list[str] | None = None) -> str:
    """The ground truth written like the wrong ``prediction``: its answer part (option letter,
    yes/no word) replaced by the correct one and the rest kept; the plain answer when the
    prediction holds no recognisable answer part."""
    if kind == "mc":
        truth = option_letter(answer, options or [])
        match = _LETTER_RE.match(prediction)
        if truth and match and match.group(1).upper() in LETTERS[: len(options or [])]:
            return prediction[: match.start(1)] + truth + prediction[match.end(1) :]
        return f"{truth}. {options[LETTERS.index(truth)]}" if truth and options else answer
    if kind == "yesno":
        found = _YES_NO_RE.search(prediction)
        if found:
            word = normalize(answer)
            word = word.capitalize() if found.group(1)[0].isupper() else word
            return prediction[: found.start(1)] + word + prediction[found.end(1) :]
    return answer
