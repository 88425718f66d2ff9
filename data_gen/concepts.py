"""Tagged concepts of a correct response, and how a concept is written in a sentence.

A correct response is a list of segments: plain text, or a :class:`Concept` that is tagged
``<MASK>…</MASK>`` when it is replaced in the hallucinated response. Kinds:

``object``    value = object name; written with an article (``a dog``)
``count``     value = the number, ``anchor`` = the object (``two dogs``)
``attribute`` value = the attribute, ``anchor`` = the object it describes
``relation``  value = the predicate, ``anchor`` = its subject (``riding``)
``location``  value = ``left``/``center``/``right``, ``anchor`` = the object
``phrase``    any other tagged phrase (from an LLM), replaceable only by the open set
"""

from __future__ import annotations

from dataclasses import dataclass

from mmalign.data.tags import CLOSE_TAG, OPEN_TAG

from .vocab import counted, parse_number, with_article

#: how predicates read after "The man is …" (annotations store them in many forms)
PREDICATE_FORMS = {"has": "with", "have": "with", "wears": "wearing", "holds": "holding", "rides": "riding",
                   "carries": "carrying", "eats": "eating", "watches": "watching", "uses": "using"}
LOCATION_TEXT = {"left": "left side", "right": "right side", "center": "center"}


@dataclass(frozen=True)
class Concept:
    kind: str
    value: str
    anchor: str = ""
    text: str = ""  # how it reads in the response; defaults to :func:`surface`

    def written(self) -> str:
        return self.text or surface(self.kind, self.value, self.anchor)


def surface(kind: str, value: str, anchor: str = "") -> str:
    if kind == "object":
        return with_article(value)
    if kind == "count":
        return counted(int(value), anchor)
    if kind == "relation":
        return PREDICATE_FORMS.get(value, value)
    if kind == "location":
        return LOCATION_TEXT.get(value, value)
    return value


def restyle(original_text: str, kind: str, value: str, anchor: str = "") -> str:
    """Write replacement ``value`` the way ``original_text`` was written (article or not)."""
    text = surface(kind, value, anchor)
    if kind == "object":
        first = original_text.split(" ", 1)[0].lower()
        if first == "the":
            return "the " + text.split(" ", 1)[1]
        if first not in ("a", "an"):
            return text.split(" ", 1)[1]
        if original_text[:1].isupper():
            return text[:1].upper() + text[1:]
    return text


Segment = str | Concept


def render(segments: list[Segment], replacements: dict[int, str] | None = None) -> str:
    """Text of ``segments``: the concepts at the indices in ``replacements`` are tagged (and written
    as the replacement), the other concepts are plain text."""
    replacements = replacements if replacements is not None else {}
    out = []
    for index, segment in enumerate(segments):
        if isinstance(segment, str):
            out.append(segment)
        elif index in replacements:
            out.append(f"{OPEN_TAG}{replacements[index]}{CLOSE_TAG}")
        else:
            out.append(segment.written())
    return "".join(out)


def count_phrase(text: str) -> tuple[int, str] | None:
    """``"two dogs"`` → ``(2, "dogs")``."""
    words = text.strip().split(" ", 1)
    if len(words) == 2:
        number = parse_number(words[0])
        if number is not None:
            return number, words[1]
    return None
