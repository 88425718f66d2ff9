"""Checking closed-form answers (multiple choice, yes/no, short, objects) and aligning the ground
truth with a wrong answer, by normalised matching: no LLM needed.

An answer's *type*: ``mc`` when the record lists options, ``yesno`` for a yes/no ground truth,
``short`` for at most ``short_words`` words, else ``open`` (judged by an LLM).

``objects`` (said by the record, or set for open-ended answers by a synonym table): an answer that
lists objects, such as a caption, judged against an object vocabulary (singularised phrase →
category, :func:`mmalign.eval.synonyms.read_synonyms`) with CHAIR's own mention finder
(:func:`mmalign.eval.metrics.chair.caption_objects`). The truth's categories are those the ground truth
names; a prediction is wrong when it names a category the truth does not (a hallucinated object),
not when it leaves one out. The aligned truth is the prediction with each hallucinated object's
phrase (its words with the determiner and adjectives before them: "a small red fork") replaced by
the phrase of a truth object the prediction does not name, as the ground truth writes it, or,
when no such object is left, left out of its list; the rest kept. Adjectives are recognised by lemminflect's word tables (it ships its data); a parser
would be a heavy dependency for what is a short left walk over an object list.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

LETTERS = string.ascii_uppercase
ANSWER_TYPES = ("mc", "yesno", "short", "open", "objects")
Vocabulary = Mapping[str, "str | None"]
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT_RE = re.compile(r"[^\w\s]")
_YES_NO_RE = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
# A leading option letter, bare or in brackets; a small model's stutter ("((B)") still picks B.
_LETTER_RE = re.compile(r"^\s*(?:the\s+answer\s+is\s*:?\s*)?\(*([A-Z])\)*(?=[\s.:)]|$)", re.IGNORECASE)


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


def is_correct(prediction: str, answer: str, kind: str, options: list[str] | None = None,
               vocabulary: Vocabulary | None = None) -> bool:
    """Whether ``prediction`` agrees with the ground truth ``answer`` (``vocabulary``: for ``objects``)."""
    if kind == "objects":
        return not _categories(prediction, vocabulary) - _categories(answer, vocabulary)
    if kind == "mc":
        truth = option_letter(answer, options or [])
        return truth is not None and option_letter(prediction, options or []) == truth
    if kind == "yesno":
        found = _YES_NO_RE.search(prediction)
        return bool(found) and found.group(1).lower() == normalize(answer)
    return normalize(prediction) == normalize(answer)


def aligned_truth(prediction: str, answer: str, kind: str, options: list[str] | None = None,
                  vocabulary: Vocabulary | None = None) -> str | None:
    """The ground truth written like the wrong ``prediction``: its answer part (option letter,
    yes/no word) replaced by the correct one and the rest kept; the plain answer when the
    prediction holds no recognisable answer part. A prediction that is only a letter naming no
    option ("(E)" of four) keeps its form too: the preferred answer must not differ from it in
    format, or training on the pair teaches the format. ``objects``: see :func:`aligned_objects`
    (``None`` when it cannot be aligned)."""
    if kind == "objects":
        return aligned_objects(prediction, answer, vocabulary)
    if kind == "mc":
        truth = option_letter(answer, options or [])
        match = _LETTER_RE.match(prediction)
        names_option = match and match.group(1).upper() in LETTERS[: len(options or [])]
        only_letter = match and not prediction[match.end() :].strip(" .")  # "(E)", "((C)", "F."
        if truth and (names_option or only_letter):
            return prediction[: match.start(1)] + truth + prediction[match.end(1) :]
        return f"{truth}. {options[LETTERS.index(truth)]}" if truth and options else answer
    if kind == "yesno":
        found = _YES_NO_RE.search(prediction)
        if found:
            word = normalize(answer)
            word = word.capitalize() if found.group(1)[0].isupper() else word
            return prediction[: found.start(1)] + word + prediction[found.end(1) :]
    return answer


# ---------------------------------------------------------------------------------------------
# objects: answers that list objects, judged against an object vocabulary

#: Words that open a noun phrase (articles, possessives, numbers, quantifiers).
_DETERMINERS = frozenset({
    "a", "an", "the", "this", "that", "these", "those", "some", "any", "another", "each", "every", "no", "both",
    "its", "their", "his", "her", "my", "our", "your", "several", "many", "few",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
})
# The words of mmalign.eval.text.words (ASCII letters), with their offsets in the text.
_LETTERS_RE = re.compile(r"[a-z]+", re.IGNORECASE | re.ASCII)
_SPACE_RE = re.compile(r"\s+")
_MODIFIER_GAP_RE = re.compile(r"[\s-]+")  # "light-blue cup"


@dataclass(frozen=True)
class ObjectPhrase:
    """An object named in a text: its category and the character span of its phrase (the mention
    with the determiner and adjectives right before it); ``determiner``: the phrase opens with one."""

    category: str
    start: int
    end: int
    determiner: bool


def _categories(text: str, vocabulary: Vocabulary | None) -> set[str]:
    from mmalign.eval.metrics.chair import caption_objects

    if vocabulary is None:
        raise ValueError("answers of type objects need an object vocabulary (synonyms_file)")
    return {category for _, category in caption_objects(text, vocabulary)}


@lru_cache(maxsize=4096)
def _is_adjective(word: str) -> bool:
    from lemminflect import getAllLemmas

    return "ADJ" in getAllLemmas(word)


def object_phrases(text: str, vocabulary: Vocabulary) -> list[ObjectPhrase]:
    """The objects ``text`` names, in order, as :func:`mmalign.eval.metrics.chair.caption_objects` finds
    them, each placed in the text: its words are the first occurrence of the mention after the
    previous one (with a synonym table, whose phrases all name objects, that is the one matched)."""
    from mmalign.eval.metrics.chair import caption_objects
    from mmalign.eval.text import singular

    words = [m.span() for m in _LETTERS_RE.finditer(text)]
    forms = [singular(text[s:e].lower()) for s, e in words]
    phrases, cursor = [], 0
    for phrase, category in caption_objects(text, vocabulary):
        size, target = len(phrase.split()), phrase.split()
        at = next((i for i in range(cursor, len(forms) - size + 1) if forms[i : i + size] == target), None)
        if at is None:  # not placeable (non-ASCII letters): left out; aligned_objects re-checks its result
            continue
        first = at
        while first > cursor:  # walk left over adjectives, up to and including a determiner
            word, gap = text[slice(*words[first - 1])].lower(), text[words[first - 1][1] : words[first][0]]
            if word in _DETERMINERS and _SPACE_RE.fullmatch(gap):
                first -= 1
                break
            if not (_is_adjective(word) and _MODIFIER_GAP_RE.fullmatch(gap)):
                break
            first -= 1
        opener = text[slice(*words[first])].lower()
        phrases.append(ObjectPhrase(category, words[first][0], words[at + size - 1][1], opener in _DETERMINERS))
        cursor = at + size
    return phrases


def aligned_objects(prediction: str, answer: str, vocabulary: Vocabulary | None) -> str | None:
    """``prediction`` with every hallucinated object (a category ``answer`` does not name) replaced
    by a truth object it does not name, as ``answer`` writes it ("a blue bowl"), the rest kept;
    where no such truth object is left, the hallucinated object is left out of its list.

    Hallucinated categories take the unnamed truth objects in the orders of their first mentions
    (every mention of one category gets the same replacement); a replacement loses its
    determiner where the replaced phrase has none, and its first letter takes the replaced
    phrase's case. The categories left over are deleted with their list separator (see
    :func:`_without_item`). ``None`` when a deletion would not leave a list behind.
    """
    truth = _categories(answer, vocabulary)
    named = _categories(prediction, vocabulary)
    unnamed: dict[str, ObjectPhrase] = {}
    for phrase in object_phrases(answer, vocabulary):
        if phrase.category not in named:
            unnamed.setdefault(phrase.category, phrase)
    left = list(unnamed.values())
    phrases = object_phrases(prediction, vocabulary)
    chosen: dict[str, ObjectPhrase | None] = {}  # None: left out
    for phrase in phrases:
        if phrase.category not in truth and phrase.category not in chosen:
            chosen[phrase.category] = left.pop(0) if left else None
    text = prediction
    for phrase in reversed(phrases):  # right to left: the spans to the left stay valid
        replacement = chosen.get(phrase.category)
        if phrase.category in truth or replacement is None:
            continue
        written = answer[replacement.start : replacement.end]
        if replacement.determiner and not phrase.determiner:
            written = written.split(None, 1)[1]
        written = (written[0].upper() if prediction[phrase.start].isupper() else written[0].lower()) + written[1:]
        text = text[: phrase.start] + written + text[phrase.end :]
    deleted = {category for category, replacement in chosen.items() if replacement is None}
    while deleted:  # one at a time, the phrases found again: a deletion may reword the list before it
        phrases = object_phrases(text, vocabulary)
        last = max((i for i, p in enumerate(phrases) if p.category in deleted), default=None)
        if last is None:
            break
        text = _without_item(text, phrases[last], phrases[:last])
        if text is None:
            return None
    return text if is_correct(text, answer, "objects", vocabulary=vocabulary) else None


def _without_item(text: str, item: ObjectPhrase, earlier: list[ObjectPhrase]) -> str | None:
    """``text`` without the list item ``item`` (``earlier``: the object phrases before it), the list
    kept well formed: ``a, b, c and d`` less ``b`` is ``a, c and d``, less ``d`` is ``a, b and c``,
    less ``a`` is ``b, c and d``. ``None`` when the item is not in a list (deleting it would break
    the sentence)."""
    before, after = text[: item.start], text[item.end :]
    if before.endswith(", "):
        return before[:-2] + after
    if before.endswith(" and "):
        head = before[: -len(" and ")]
        # "x, y and z" less z: y closes the list, when x and y are both items of it
        if len(earlier) >= 2 and earlier[-1].end == len(head) and text[earlier[-2].end : earlier[-1].start] == ", ":
            head = head[: earlier[-2].end] + " and " + head[earlier[-1].start :]
        return head + after
    for separator in (", ", " and "):
        if after.startswith(separator):
            rest = after[len(separator) :]
            if text[item.start].isupper():
                rest = rest[:1].upper() + rest[1:]
            return before + rest
    return None
