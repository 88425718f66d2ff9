"""Reading answers out of free text: yes/no, option letters, clip orders, judge ratings.

Every parser returns ``None`` when the text does not commit to an answer; callers count those as
unparseable and score them as wrong (they stay in the denominator).
"""

from __future__ import annotations

import re
import string

_YES = {"yes", "yeah", "yep", "true", "correct"}
_NO = {"no", "nope", "not", "false", "incorrect", "none", "nothing", "neither"}
_SENTENCE_END = re.compile(r"[.!?\n]")
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Hedges hold "not"/"n't" without answering no.
_HEDGE = re.compile(r"\b(?:not (?:sure|certain|clear)|(?:can't|cannot|can not) (?:tell|say|determine|be sure))\b")


def parse_yes_no(text: str) -> str | None:
    """``"yes"``, ``"no"`` or ``None``.

    The first word decides when it is a yes or a no word (``"No, there is not."``). Otherwise the
    first yes/no word of the first sentence decides (``"There is no dog."`` → no; ``isn't`` and
    other ``n't`` forms count as no). A first sentence with neither (``"There is a dog."``) is
    unparseable: nothing in it commits to an answer.
    """
    if not text or not text.strip():
        return None
    lowered = text.strip().lower().lstrip(string.punctuation + " *")
    lowered = _HEDGE.sub(" unsure ", lowered)
    first_sentence = _SENTENCE_END.split(lowered, maxsplit=1)[0]
    tokens = _TOKEN.findall(first_sentence)
    for token in tokens:
        if token in _YES:
            return "yes"
        if token in _NO or token.endswith("n't"):
            return "no"
    return None


_PREFIXES = re.compile(
    r"^(?:the\s+)?(?:best\s+|correct\s+|right\s+|final\s+)?(?:answer|option|choice)s?"
    r"(?:\s+is|\s+are|\s*:)?\s*",
    re.IGNORECASE,
)


def _letters(n: int) -> str:
    return string.ascii_uppercase[:n]


def parse_choice(text: str, options: list[str]) -> str | None:
    """The option letter (``"A"``, ``"B"`` …) that ``text`` picks among ``options``, or ``None``.

    In order: a lone letter or a letter opening the text as ``B.``, ``B)``, ``(B)``, ``B:``
    (after an optional ``Answer:`` / ``The answer is`` / ``Option``); a parenthesised ``(B)`` or
    ``answer is B`` anywhere; a letter followed by its own option text (``B dribbling``); finally
    the one option whose text the answer contains (when exactly one does). A capital ``A`` used as
    an article (``A man dribbles``) is not taken for option A unless option A's text follows.
    """
    letters = _letters(len(options))
    if not text or not text.strip() or not options:
        return None
    clean = text.strip().strip("*\"'` ")
    clean = _PREFIXES.sub("", clean, count=1).strip().strip("*\"'` ")
    if len(clean) == 1 and clean.upper() in letters and (clean.isupper() or clean in letters.lower()):
        return clean.upper()
    start = re.match(r"^\(?([A-Z])\s*(?:[.):\]]|$)", clean)
    if start and start.group(1) in letters:
        return start.group(1)
    anywhere = re.search(
        r"\(((?-i:[A-Z]))\)|(?:answer|option|choice)\s*(?:is|:)?\s*\(?((?-i:[A-Z]))\b", text, re.IGNORECASE
    )
    if anywhere:
        letter = anywhere.group(1) or anywhere.group(2)
        if letter in letters:
            return letter
    alone = _standalone_letters(text, letters)
    lead = re.match(r"^([A-Z])\s+(.+)$", clean, re.DOTALL)
    if lead and lead.group(1) in letters:
        letter = lead.group(1)
        if _norm(options[letters.index(letter)]) in _norm(lead.group(2)):
            return letter
        if letter not in "AI" and alone <= {letter}:
            return letter
    if len(alone) == 1:
        return alone.pop()
    return _by_option_text(text, options)


def _standalone_letters(text: str, letters: str) -> set[str]:
    """Capital letters standing alone (``it's B.``); ``A`` and ``I`` followed by a word are an
    article and a pronoun, not options."""
    found = set()
    for match in re.finditer(r"(?<![A-Za-z])([A-Z])(?![A-Za-z'])", text):
        letter = match.group(1)
        if letter not in letters:
            continue
        if letter in "AI" and re.match(r"\s+[a-z]", text[match.end() :]):
            continue
        found.add(letter)
    return found


def parse_choices(text: str, options: list[str]) -> frozenset[str] | None:
    """The set of option letters ``text`` picks (multi-answer questions), or ``None``.

    ``"AC"``, ``"A, C"``, ``"A and C"``, ``"(A) (C)"`` → {A, C}; otherwise a single choice as
    :func:`parse_choice` reads it; otherwise the options whose full text the answer contains.
    """
    letters = _letters(len(options))
    if not text or not text.strip():
        return None
    clean = _PREFIXES.sub("", text.strip().strip("*\"'` "), count=1).strip().rstrip(".")
    compact = re.sub(r"[\s,;()/&.]+|\band\b", "", clean)
    if compact and len(compact) <= len(letters) and all(c in letters for c in compact):
        return frozenset(compact)
    single = parse_choice(text, options)
    if single is not None:
        return frozenset(single)
    lowered = _norm(text)
    found = {letters[i] for i, option in enumerate(options) if _norm(option) and _norm(option) in lowered}
    return frozenset(found) if found else None


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _by_option_text(text: str, options: list[str]) -> str | None:
    lowered = f" {_norm(text)} "
    hits = [i for i, option in enumerate(options) if _norm(option) and f" {_norm(option)} " in lowered]
    # An option whose text contains another's (``left`` / ``left to right``) wins over it.
    hits = [i for i in hits if not any(j != i and _norm(options[i]) in _norm(options[j]) for j in hits)]
    return _letters(len(options))[hits[0]] if len(hits) == 1 else None


def parse_order(text: str, num_steps: int) -> list[int] | None:
    """A clip order: a permutation of ``1..num_steps`` read from ``text``, or ``None``.

    The numbers after the last ``order`` (``Correct order: 3, 1, 2``) are tried first, then every
    line of the text, then the whole text; the first run of numbers that is a permutation of
    ``1..num_steps`` wins (``Clip 2, Clip 3, Clip 1`` works too).
    """
    if not text:
        return None
    candidates = []
    lowered = text.lower().replace("*", "")
    marker = lowered.rfind("order")
    if marker >= 0:
        candidates.append(lowered[marker + len("order") :].split("\n\n")[0])
    candidates += lowered.splitlines()
    candidates.append(lowered)
    wanted = list(range(1, num_steps + 1))
    for candidate in candidates:
        numbers = [int(n) for n in re.findall(r"\d+", candidate)]
        if len(numbers) == num_steps and sorted(numbers) == wanted:
            return numbers
    return None


_RATING = re.compile(r"rating\s*[:=]?\s*\**\s*([0-9])\b", re.IGNORECASE)


def parse_rating(text: str, low: int = 0, high: int = 6) -> int | None:
    """The judge's ``Rating: N`` (``low`` ≤ N ≤ ``high``); ``None`` when there is none, or when
    there are different ones (a judge that hedges between ratings has not rated)."""
    found = {int(m) for m in _RATING.findall(text or "") if low <= int(m) <= high}
    return found.pop() if len(found) == 1 else None
