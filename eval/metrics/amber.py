"""AMBER (Wang et al., "AMBER: an LLM-free multi-dimensional benchmark for MLLMs hallucination
evaluation", arXiv 2311.07397), computed from the benchmark's released files.

Generative task: the object words of a response are the words of AMBER's vocabulary (the keys and
values of its word association table, ``relation.json``) that it contains, singularised. An
object word is safe when it is in ``safe_words.txt``, or is one of the image's ``truth`` objects or
their associated words; any other object word is hallucinated.

* CHAIR: % of object mentions that are hallucinated (safe-list words count as mentions).
* Cover: % of ground-truth objects mentioned (directly or through an associated word).
* Hal: % of responses with at least one hallucinated object.
* Cog: % of the annotated likely-hallucination objects (``hallu``) the responses mention.

AMBER finds nouns with a part-of-speech tagger; no tagger with offline data is available here, so
every vocabulary word is taken as a mention whatever its part of speech (a verb ``bears`` counts as
``bear``). Discriminative task: yes/no questions with "no" as the positive class, as AMBER scores
them: accuracy, precision, recall and F1 per category (existence, attribute, relation) and overall.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..parsing import parse_yes_no
from ..text import match_phrases, phrase_key, singular_words
from .common import pct
from .pope import f1_score, yes_no_table


def discriminative_category(kind: str) -> str:
    """``discriminative-attribute-state`` → ``attribute`` (and existence, relation)."""
    parts = kind.split("-")
    return parts[1] if len(parts) > 1 else kind


def _lookup(words: list[str], association: Mapping[str, list[str]]) -> list[tuple[str, int]]:
    """(word, object index): each object's associated words, then the objects themselves (AMBER's
    order, which decides the object an ambiguous word is credited to)."""
    pairs = [(phrase_key(w), i) for i, word in enumerate(words) for w in association.get(word, [])]
    return pairs + [(phrase_key(word), i) for i, word in enumerate(words)]


def _first(word: str, lookup: list[tuple[str, int]]) -> int | None:
    return next((i for w, i in lookup if w == word), None)


def amber_generative(
    responses: Mapping[Any, str],
    annotations: Mapping[Any, Mapping[str, Any]],
    association: Mapping[str, list[str]],
    safe_words: Iterable[str],
) -> dict[str, Any]:
    """CHAIR, Cover, Hal, Cog (percentages) of generative ``responses`` (id → text)."""
    vocabulary = {phrase_key(w): True for key, values in association.items() for w in (key, *values)}
    longest = max((len(k.split()) for k in vocabulary), default=1)
    safe = {phrase_key(w) for w in safe_words}
    mentions = hallucinated = covered = truths = covered_hallu = hallus = with_hallucination = 0
    for key, text in responses.items():
        ann = annotations[key]
        nouns = [p for p, _, _ in match_phrases(singular_words(text), vocabulary, longest)]
        truth_lookup = _lookup(list(ann.get("truth", [])), association)
        hallu_lookup = _lookup(list(ann.get("hallu", [])), association)
        seen_truth, seen_hallu, wrong = set(), set(), 0
        for noun in nouns:
            if noun in safe:
                continue
            index = _first(noun, truth_lookup)
            if index is not None:
                seen_truth.add(index)
                continue
            wrong += 1
            index = _first(noun, hallu_lookup)
            if index is not None:
                seen_hallu.add(index)
        mentions += len(nouns)
        hallucinated += wrong
        with_hallucination += wrong > 0
        covered += len(seen_truth)
        truths += len(ann.get("truth", []))
        covered_hallu += len(seen_hallu)
        hallus += len(ann.get("hallu", []))
    return {
        "chair": pct(hallucinated, mentions),
        "cover": pct(covered, truths),
        "hal": pct(with_hallucination, len(responses)),
        "cog": pct(covered_hallu, hallus),
        "n": len(responses),
    }


def _no_positive(answers: list[str | None], labels: list[str]) -> dict[str, float]:
    t = yes_no_table(answers, labels)
    said_no = t[("yes", "no")] + t[("no", "no")]
    label_no = t[("no", "yes")] + t[("no", "no")] + t[("no", None)]
    precision = pct(t[("no", "no")], said_no)
    recall = pct(t[("no", "no")], label_no)
    return {
        "accuracy": pct(t[("yes", "yes")] + t[("no", "no")], len(labels)),
        "precision": precision,
        "recall": recall,
        "f1": f1_score(precision, recall),
        "unparseable": t[("yes", None)] + t[("no", None)],
        "n": len(labels),
    }


def amber_discriminative(responses: Mapping[Any, str], annotations: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """Per-category and overall accuracy / precision / recall / F1 ("no" positive), percentages."""
    by_category: dict[str, tuple[list, list]] = {}
    every: tuple[list, list] = ([], [])
    for key, text in responses.items():
        ann = annotations[key]
        answer, label = parse_yes_no(text), str(ann["truth"]).strip().lower()
        answers, labels = by_category.setdefault(discriminative_category(ann["type"]), ([], []))
        for target in ((answers, labels), every):
            target[0].append(answer)
            target[1].append(label)
    out: dict[str, Any] = {name: _no_positive(*pair) for name, pair in sorted(by_category.items())}
    out["overall"] = _no_positive(*every)
    return out
