"""How each benchmark's own scoring script reads an answer, odd cases included.

A benchmark's published numbers come from its own script, so by default the answers are read the
way that script reads them, even where it is lax (POPE takes an answer with no yes/no word for a
yes) or literal (AMBER's yes/no questions accept only the exact strings ``Yes`` and ``No``). The
project's stricter readers of :mod:`mmalign.eval.parsing` are used instead with ``strict_parsing=true``;
the benchmark module's docstring says what changes. Each function names the script it follows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

OFFICIAL, STRICT = "official", "strict"


def parsing_mode(strict: bool) -> str:
    """The ``parsing`` entry of a benchmark's results."""
    return STRICT if strict else OFFICIAL


def pope_answer(text: str) -> str:
    """POPE's ``eval_pope.py`` (as LLaVA and HALVA ship it): keep the text before the first ``.``,
    drop commas, split on single spaces; ``no`` when one of the words is exactly ``No``, ``no`` or
    ``not``, else ``yes``. So an answer without yes or no (``"I cannot tell"``) counts as yes, and so
    do ``"NO"`` and ``"No!"`` (not one of those exact words)."""
    first = text.split(".")[0] if "." in text else text
    words = first.replace(",", "").split(" ")
    return "no" if any(w in ("No", "not", "no") for w in words) else "yes"


def mme_answer(text: str) -> str:
    """MME's ``eval_tool/calculation.py``: the lower-cased answer is ``yes``/``no`` when it is exactly
    that; otherwise only its first four characters are read: ``yes`` in them → yes, else ``no`` in
    them → no, else ``other`` (wrong). So ``"Yes, there is."`` is yes, ``"There is no dog."`` is
    other, and ``"Not really"`` is no (``"not "`` holds ``no``)."""
    lowered = text.lower()
    if lowered in ("yes", "no"):
        return lowered
    head = lowered[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return "other"


# The list of Video-MME's ``eval_your_results.py``, as Python reads it: two missing commas there
# join four of the prefixes in pairs, so "The best option is" and "Best option:" are never removed.
_VIDEOMME_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option isThe correct option is",
    "Best answer:Best option:",
    "Answer:",
    "Option:",
    "The correct answer",
    "The correct option",
)


def videomme_letter(text: str) -> str | None:
    """Video-MME's ``eval_your_results.py`` (``extract_characters_regex``): strip, remove the answer
    prefixes, then the first capital ``A``–``D`` anywhere (the article of ``"A man…"`` counts, and
    so does the ``B`` of ``"Based on…"``); ``None`` when there is none: the script leaves such an
    answer out of the denominator."""
    s = text.strip()
    for prefix in _VIDEOMME_PREFIXES:
        s = s.replace(prefix, "")
    found = re.search(r"[ABCD]", s)
    return found.group(0) if found else None


def mlvu_letter(text: str) -> str:
    """MLVU's ``choice_bench.py`` (``check_ans``): when the answer holds a ``)``, the one character
    before the first ``)``; otherwise the whole answer, which then matches only if it is exactly the
    letter (``"A"`` is read, ``"A."`` and ``"The answer is A"`` are wrong)."""
    if ")" in text:
        index = text.index(")")
        return text[index - 1 : index]  # empty when the answer starts with ")"
    return text


def vidhalluc_letters(text: str, choices: Mapping[str, str]) -> frozenset[str]:
    """VidHalluc's ``eval_mcq.py``: every capital ``A``–``D`` standing as a word of its own
    (``\\b[A-D]\\b``: ``"A, C"`` → {A, C}, but ``"AC"`` → nothing, and the article of ``"A man"``
    is A); when there is none, the first choice (in the file's order) whose text, lower-cased, is
    in the lower-cased answer; else nothing, which is wrong."""
    found = frozenset(re.findall(r"\b[A-D]\b", text))
    if found:
        return found
    lowered = text.lower()
    for key, value in choices.items():
        if str(value).lower() in lowered:
            return frozenset(str(key).strip().upper())
    return frozenset()


def vidhalluc_truth(answer: str) -> frozenset[str]:
    """The letters of a ``Correct Answer`` as ``eval_mcq.py`` reads them: every ``A``–``D`` in it,
    upper-cased."""
    return frozenset(re.findall(r"[A-D]", str(answer).strip().upper()))


def mmhal_rating(reply: str) -> int | None:
    """MMHal-Bench's ``eval_gpt4.py``: the ratings ``s`` in 0..6 for which ``"rating: s"`` occurs in
    the lower-cased reply; the rating when exactly one does, else ``None`` (scored 0)."""
    lowered = reply.lower()
    found = [s for s in range(7) if f"rating: {s}" in lowered]
    return found[0] if len(found) == 1 else None


def amber_answer(text: str) -> str | None:
    """AMBER's ``inference.py``: ``"yes"`` only for the exact response ``Yes``, ``"no"`` only for
    exactly ``No``; anything else (``"yes"``, ``"No."``, ``"Yes, there is"``) is neither, so it is
    wrong whatever the truth, and not a "no" answer for precision."""
    return {"Yes": "yes", "No": "no"}.get(text)
