"""The word pipeline of the CHAIR and AMBER scripts: tokenise, tag parts of speech, lemmatise.

Both official scripts call nltk: ``word_tokenize``, ``pos_tag`` (the averaged perceptron tagger)
and WordNet's lemmatiser. Those calls need data files (``punkt_tab``, ``averaged_perceptron_tagger_eng``,
``wordnet``) that are downloaded separately from nltk. When they are installed (``nltk.download``
on the user's machine, or ``NLTK_DATA``), the same calls are made here and the scores are the
official ones exactly. Otherwise an offline path does the same three steps with what pip installs:

* tokens: nltk's own word tokenizer (code, no data) on sentences split by nltk's Punkt with its
  default parameters (the trained English parameters are data: they differ only on abbreviations);
* tags: textblob's Pattern tagger, whose lexicon ships inside the textblob package (Penn Treebank
  tags like nltk's; a different model, so it can tag an ambiguous word differently), with a few
  corrections where the two disagree most (a verb after "to", a participle after "is");
* lemmas: WordNet's lemmatiser for the words that can become an object of the CHAIR or AMBER
  vocabularies, from a table built with WordNet itself (:mod:`mmalign.eval.wordnet_lemmas`), and
  lemminflect for any other word.

:func:`backend` says which path is in use; the benchmarks write it into their results (``nlp``).
``MMALIGN_NLP=offline`` in the environment forces the offline path.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

NLTK, OFFLINE = "nltk", "offline"
NLTK_DATA = ("punkt_tab", "averaged_perceptron_tagger_eng", "wordnet")
logger = logging.getLogger("mmalign.eval")


@lru_cache(maxsize=1)
def backend() -> str:
    """``"nltk"`` when nltk and its data answer a probe call, else ``"offline"``."""
    if os.environ.get("MMALIGN_NLP", "").lower() == OFFLINE:
        return OFFLINE
    try:
        import nltk
        from nltk.stem import WordNetLemmatizer

        nltk.pos_tag(nltk.word_tokenize("two dogs ran."))
        WordNetLemmatizer().lemmatize("dogs")
    except (ImportError, LookupError, OSError):
        logger.warning(
            "nltk's data is not installed: words are tagged and lemmatised by the offline path, which can differ "
            "from the official CHAIR/AMBER scripts on a few words (python -m nltk.downloader %s installs it)",
            " ".join(NLTK_DATA),
        )
        return OFFLINE
    return NLTK


def tokenize(text: str) -> list[str]:
    """``nltk.word_tokenize(text)``."""
    if backend() == NLTK:
        import nltk

        return nltk.word_tokenize(text)
    return [token for sentence in _sentences().tokenize(text) for token in _words().tokenize(sentence)]


@lru_cache(maxsize=1)
def _sentences():
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer()


@lru_cache(maxsize=1)
def _words():
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def pos_tag(tokens: list[str]) -> list[tuple[str, str]]:
    """``nltk.pos_tag(tokens)``: Penn Treebank tags."""
    if not tokens:
        return []
    if backend() == NLTK:
        import nltk

        return nltk.pos_tag(tokens)
    from textblob.en import tag

    tagged = tag(" ".join(tokens), tokenize=False)
    if len(tagged) != len(tokens):  # the tagger splits on spaces only; this guards the alignment
        raise RuntimeError(f"tagger returned {len(tagged)} tags for {len(tokens)} tokens")
    return list(zip(tokens, _nltk_like([token.lower() for token in tokens], [pos or "NN" for _, pos in tagged])))


def _nltk_like(words: list[str], tags: list[str]) -> list[str]:
    """A few corrections where the Pattern tagger and nltk's disagree most on descriptions (measured
    on MLVU's scene descriptions; see ``bench/nlp_agreement.py``): verb forms read as nouns after
    "to", after "be" or a noun (``to fish``, ``is sailing``, ``a man skiing down``, ``the scene
    switches to``), and nouns read as verbs after a determiner or adjective (``a polar bear``)."""
    tags = list(tags)
    for i in range(1, len(tags)):
        word, before, before_word = words[i], tags[i - 1], words[i - 1]
        after, after_tags = words[i + 1 : i + 2], tags[i + 1 : i + 2]
        if tags[i] in ("NN", "NNS") and before == "TO" and _verb(word):
            tags[i] = "VB"
        elif tags[i] == "NN" and word.endswith("ing") and _verb(word) and _participle(before, before_word, after, after_tags):
            tags[i] = "VBG"
        elif (
            tags[i] == "NNS"
            and _verb(word)
            and before in ("NN", "NNP", "RB", "PRP")
            and after_tags[:1]
            and after_tags[0] in ("DT", "IN", "RP", "TO", "PRP$")
        ):
            tags[i] = "VBZ"
        elif tags[i] in ("VB", "VBP") and before in ("DT", "JJ", "PRP$"):
            tags[i] = "NN"
        elif tags[i] == "VBZ" and before in ("DT", "JJ", "CD", "PRP$"):
            tags[i] = "NNS"
    return tags
    return list(zip(tokens, tags))


_BE = frozenset({"is", "are", "was", "were", "be", "been", "being", "'s", "'re"})
_MOTION = frozenset({"down", "up", "across", "along", "through", "toward", "towards", "into", "onto", "over", "around", "past"})


def _participle(before: str, before_word: str, after: list[str], after_tags: list[str]) -> bool:
    """Whether an -ing word the Pattern tagger calls a noun is a participle to nltk's tagger: after a
    plural noun, a pronoun or a form of "be" ("dogs running", "a man is sailing"), or after a noun
    when an object, a particle or a path
    follows ("a man skiing down a hill", "a woman holding a cup"). Measured on MLVU's descriptions,
    nltk tags most such words VBG and CHAIR's lemma depends on it (skiing → ski, so skis)."""
    if before in ("NNS", "NNPS", "PRP") or before_word in _BE:
        return True
    if before not in ("NN", "NNP") or not after:
        return False
    return after_tags[0] in ("DT", "RP", "PRP$") or after[0] in _MOTION


@lru_cache(maxsize=4096)
def _verb(word: str) -> bool:
    """Whether an -ing word is a verb form at all (``sailing`` is; ``nothing``, ``ceiling`` are not)."""
    from lemminflect import getAllLemmas

    return "VERB" in getAllLemmas(word)


def wordnet_pos(tag: str) -> str:
    """The WordNet part of speech of a Penn Treebank tag, as CHAIR maps it (noun by default)."""
    return {"J": "a", "V": "v", "N": "n", "R": "r"}.get(tag[:1], "n")


def lemmatize(word: str, pos: str = "n") -> str:
    """``WordNetLemmatizer().lemmatize(word, pos)`` (``pos``: n, v, a, r)."""
    if backend() == NLTK:
        return _wordnet().lemmatize(word, pos)
    return _offline_lemma(word, pos)


@lru_cache(maxsize=1)
def _wordnet():
    from nltk.stem import WordNetLemmatizer

    return WordNetLemmatizer()


_UPOS = {"n": "NOUN", "v": "VERB", "a": "ADJ", "r": "ADV"}
_POS_INDEX = {"n": 0, "v": 1, "a": 2, "r": 3}


@lru_cache(maxsize=65536)
def _offline_lemma(word: str, pos: str) -> str:
    from .wordnet_lemmas import LEMMAS, VOCABULARY

    known = LEMMAS.get(word)
    if known is not None:
        return known[_POS_INDEX[pos]]
    if word in VOCABULARY or not word.isalpha() or not word.islower():
        return word  # WordNet leaves it as it is (the table lists every vocabulary word it changes)
    from lemminflect import getLemma

    lemmas = getLemma(word, upos=_UPOS[pos])
    lemma = lemmas[0] if lemmas else word
    # The table holds every form WordNet turns into a vocabulary word, so any other word must not
    # become one here.
    return word if lemma in VOCABULARY else lemma
