"""Concept names for presence checks: normalisation, plural forms, synonyms, number words.

A hallucinated replacement must be absent from the image, and a synonym or a plural form of an
annotated name counts as present ("dogs" and "dog", "man" and "guy" when both carry the WordNet
synset ``man.n.01``). Names are lower-cased, articles dropped, and the head (last) word of a noun
phrase is singularised with lemminflect, which ships its own data (nltk's cannot be downloaded
here). Synonym groups come from the WordNet synset names that Visual Genome attaches to its
annotations, and from optional alias lists (Visual Genome's ``object_alias.txt`` format: one group
per line, comma-separated, the first name being the group's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from lemminflect import getInflection, getLemma

from mmalign.data.jsonio import read_text
from mmalign.errors import DataError

ARTICLES = ("a", "an", "the")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_SPACE_RE = re.compile(r"\s+")
_STRIP_RE = re.compile(r"[^\w\s'-]")


def clean(name: str) -> str:
    """Lower case, punctuation removed, single spaces, leading article dropped."""
    words = _SPACE_RE.sub(" ", _STRIP_RE.sub(" ", str(name).lower())).strip().split(" ")
    if len(words) > 1 and words[0] in ARTICLES:
        words = words[1:]
    return " ".join(w for w in words if w)


@lru_cache(maxsize=200_000)
def singular(name: str) -> str:
    """The noun phrase with its head word singularised: ``"tennis rackets"`` → ``"tennis racket"``."""
    words = clean(name).split(" ")
    if not words[-1]:
        return ""
    lemmas = getLemma(words[-1], upos="NOUN")
    if lemmas and lemmas[0]:
        words[-1] = lemmas[0]
    return " ".join(words)


@lru_cache(maxsize=50_000)
def plural(name: str) -> str:
    """Plural of a (singular) noun phrase: ``"man"`` → ``"men"``, ``"bus"`` → ``"buses"``."""
    words = clean(name).split(" ")
    forms = getInflection(words[-1], tag="NNS")
    if forms:
        words[-1] = forms[0]
    return " ".join(words)


def with_article(noun: str) -> str:
    noun = clean(noun)
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def parse_number(word: str) -> int | None:
    word = word.lower()
    if word.isdigit():
        return int(word)
    return NUMBER_WORDS.index(word) if word in NUMBER_WORDS else None


def counted(n: int, noun: str) -> str:
    """``"one dog"``, ``"three dogs"``."""
    return f"{number_word(n)} {singular(noun) if n == 1 else plural(singular(noun))}"


def read_aliases(path: str | Path) -> dict[str, str]:
    """Alias list → ``{name: group name}`` for every name of every group."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"alias file not found: {path}")
    groups: dict[str, str] = {}
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        names = [singular(n) for n in line.split(",") if n.strip()]
        if not names:
            continue
        if len(names) < 2:
            raise DataError("expected comma-separated synonyms", source=f"{path}:{lineno}")
        for name in names:
            groups.setdefault(name, names[0])
    return groups


class Vocabulary:
    """Maps a name to the set of keys under which it counts as present.

    Two names are the same concept when their key sets meet: same singular form, same alias
    group, or a shared WordNet synset (learned from the annotations with :meth:`learn`)."""

    def __init__(self, aliases: dict[str, str] | None = None, nouns: bool = True):
        self.aliases = dict(aliases or {})
        self.synsets: dict[str, set[str]] = {}
        self.nouns = nouns  # singularise (objects); attributes and predicates are only cleaned

    def learn(self, name: str, synsets: Iterable[str]) -> None:
        synsets = [s for s in synsets if isinstance(s, str) and s]
        if synsets:
            self.synsets.setdefault(self.canonical(name), set()).update(synsets)

    def canonical(self, name: str) -> str:
        return singular(name) if self.nouns else clean(name)

    def keys(self, name: str) -> frozenset[str]:
        base = self.canonical(name)
        keys = {base, self.aliases.get(base, base)}
        keys.update("syn:" + s for s in self.synsets.get(base, ()))
        return frozenset(keys)
