"""Word handling for object sets other than COCO's (CHAIR with ``synonyms_file``, and the object
judging of :mod:`data_gen.matching`): tokenising and singularising, offline. COCO's CHAIR and AMBER
follow their official scripts' word pipeline instead (:mod:`mmalign.eval.nlp`).

Singular forms come from lemminflect, which ships its lemma tables inside the package (nltk's
tokenizer and WordNet lemmatiser need data files that cannot be downloaded here). Tokenising is a
regular expression over letters: the metrics only ever match alphabetic words against an object
vocabulary, which a full tokenizer would not change.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    """Lower-cased alphabetic words of ``text``: ``"Two hot-dogs, a man's hat."`` →
    ``['two', 'hot', 'dogs', 'a', 'man', 's', 'hat']``."""
    return _WORD.findall(text.lower())


@lru_cache(maxsize=65536)
def singular(word: str) -> str:
    """The noun lemma of ``word`` (``dogs`` → ``dog``, ``mice`` → ``mouse``, ``people`` stays)."""
    from lemminflect import getLemma

    lemmas = getLemma(word, upos="NOUN")
    return lemmas[0] if lemmas else word


def singular_words(text: str) -> list[str]:
    return [singular(w) for w in words(text)]


def phrase_key(phrase: str) -> str:
    """A vocabulary phrase in the form captions are matched in: words singularised, space-joined."""
    return " ".join(singular_words(phrase))


def match_phrases(tokens: list[str], vocabulary: dict[str, object], longest: int = 3) -> list[tuple[str, object, int]]:
    """Greedy longest-first matching of singularised ``tokens`` against ``vocabulary`` (phrase → value).

    Returns ``(phrase, value, token_index)`` for every match, in order. A matched phrase consumes its
    words, so ``hot dog`` matched as one phrase never also yields ``dog``. Values may be ``None``:
    such phrases only consume words (context phrases that are not objects).
    """
    found = []
    i = 0
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            phrase = " ".join(tokens[i : i + size])
            if phrase in vocabulary:
                found.append((phrase, vocabulary[phrase], i))
                i += size
                break
        else:
            i += 1
    return found
