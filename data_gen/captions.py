"""Reference captions as correct responses: the objects a caption names, found and made concepts.

HALVA writes its correct descriptions with an LLM from the annotations; where an image comes with
human (or otherwise trusted) captions — COCO's ``captions_*.json`` — a caption is already a correct
description, and the only step left is finding which of its words name annotated objects. Those
mentions become ``object`` concepts (:mod:`mmalign.data_gen.concepts`) that the closed set can replace.

A mention is one or two words whose vocabulary keys (singular form, alias group, synset) meet the
image's objects, preceded by its article when the article comes right before it, so a replacement
can carry its own (``a cup`` → ``an apple``, ``the cup`` → ``the apple``). Words naming an object that is *not* annotated are
left as plain text: a caption may name more than the boxes show, and such words are never tagged.
"""

from __future__ import annotations

import re

from .concepts import Concept, Segment, restyle
from .cooccur import ConceptIndex, Presence
from .vocab import ARTICLES, clean, plural, singular

_WORD_RE = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")


def caption_segments(caption: str, index: ConceptIndex, presence: Presence) -> list[Segment]:
    """``caption`` as plain text and ``object`` concepts, one per mention of an annotated object."""
    words = list(_WORD_RE.finditer(caption))
    segments: list[Segment] = []
    cursor = i = 0
    while i < len(words):
        size = _mention_size(words, i, index, presence, caption)
        if not size:
            i += 1
            continue
        first, last = words[i], words[i + size - 1]
        start = first.start()
        previous = words[i - 1] if i else None
        if previous and previous.group().lower() in ARTICLES and caption[previous.end() : start] == " " and previous.start() >= cursor:
            start = previous.start()
        name = caption[first.start() : last.end()]
        segments += [caption[cursor:start], Concept("object", index.objects.canonical(name), "", caption[start : last.end()])]
        cursor = last.end()
        i += size
    return [s for s in [*segments, caption[cursor:]] if s != ""]


def _mention_size(words: list[re.Match], i: int, index: ConceptIndex, presence: Presence, caption: str) -> int:
    """2 or 1 when the words from ``i`` name an annotated object (longest first), else 0."""
    for size in (2, 1):
        if i + size > len(words):
            continue
        name = caption[words[i].start() : words[i + size - 1].end()]
        if size == 2 and (caption[words[i].end() : words[i + 1].start()] != " " or words[i].group().lower() in ARTICLES):
            continue
        if index.objects.keys(name) & presence.objects:
            return size
    return 0


def mention_as(mention: str, value: str) -> str:
    """Object ``value`` written the way ``mention`` was: its article (or none), capitalisation and
    number (``A cup`` → ``An apple``, ``cups`` → ``apples``)."""
    text = restyle(mention, "object", value)
    noun = clean(mention)
    if singular(noun) != noun:  # a plural mention gets a plural replacement
        text = text[: len(text) - len(clean(text))] + plural(clean(text))
    return text
