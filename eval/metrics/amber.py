"""AMBER (Wang et al., "AMBER: an LLM-free multi-dimensional benchmark for MLLMs hallucination
evaluation", arXiv 2311.07397), computed as the benchmark's ``inference.py`` computes it.

Generative task. The object mentions of a response are its nouns (tokens tagged ``NN*`` on the
response as written, not lower-cased, each lemmatised as a noun: :mod:`mmalign.eval.nlp`) that are words of
AMBER's vocabulary (the keys and values of ``relation.json``); a word used as a verb ("sailing")
or written with a capital ("Dogs") is no mention. A mention is

* not counted as hallucinated when it is in ``safe_words.txt`` (but it stays in CHAIR's denominator);
* safe when it is one of the image's ``truth`` objects or their associated words: the first
  matching entry (associated words of the truth objects in order, then the objects) credits its
  object for Cover;
* hallucinated otherwise; when it is one of the ``hallu`` objects or their associated words, it
  credits that object for Cog.

The script then compares a hallucinated word with every truth and hallu word by spaCy word vectors
(``en_core_web_lg``, similarity above 0.8): a similar truth word makes it safe after all. That step
runs here when ``similar`` is given (the benchmark passes spaCy's, when that model is installed);
otherwise it is left out, and the results say so.

* CHAIR: % of mentions that are hallucinated; Cover: % of truth objects credited; Hal: % of
  responses with a hallucinated mention; Cog: % of hallu objects credited.

Discriminative task: yes/no questions with "no" as the positive class. The script reads an answer
only when it is exactly ``Yes`` or ``No`` (:func:`mmalign.eval.official_parsing.amber_answer`); anything
else is wrong, whatever the truth, and is no "no" answer. Categories as the script groups the
annotation types: existence (``discriminative-hallucination``), attribute (state, number and
action, also reported on their own) and relation (every other type).

Numbers are rounded to one decimal as the script prints them, and F1 is computed from the rounded
precision and recall with the script's guard in the denominator (0.001 for existence, 0.0001
elsewhere): F1 = round(2·P·R / (P + R + ε), 1) on fractions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import nlp
from ..official_parsing import amber_answer

Similar = Callable[[str, str], bool]

#: annotation type → the script's category; attribute types also count in "attribute"
_ATTRIBUTES = {
    "discriminative-attribute-state": "state",
    "discriminative-attribute-number": "number",
    "discriminative-attribute-action": "action",
}


def response_nouns(text: str) -> list[str]:
    """The noun lemmas of ``text`` as AMBER's ``extract_nouns`` finds them."""
    return [nlp.lemmatize(word) for word, tag in nlp.pos_tag(nlp.tokenize(text)) if tag.startswith("NN")]


def _pct1(part: float, whole: float) -> float:
    """``round(100 · part / whole, 1)``; 0 when ``whole`` is 0 (the script stops there instead)."""
    return round(part / whole * 100, 1) if whole else 0.0


def _credit(objects: list[str], association: Mapping[str, list[str]]) -> list[tuple[str, int]]:
    """(word, object index) in the script's search order: each object's associated words, then the
    objects themselves."""
    return [(w, i) for i, word in enumerate(objects) for w in association[word]] + [(w, i) for i, w in enumerate(objects)]


def _first(word: str, lookup: list[tuple[str, int]], similar: Similar | None = None) -> int | None:
    for candidate, index in lookup:
        if (similar(word, candidate) if similar else word == candidate):
            return index
    return None


def amber_generative(
    responses: Mapping[Any, str],
    annotations: Mapping[Any, Mapping[str, Any]],
    association: Mapping[str, list[str]],
    safe_words: Iterable[str],
    similar: Similar | None = None,
) -> dict[str, Any]:
    """CHAIR, Cover, Hal, Cog (percentages, one decimal) of generative ``responses`` (id → text).

    ``similar(word, other)``: the script's word-vector test (spaCy ``en_core_web_lg`` similarity
    above 0.8); ``None`` leaves that step out. Raises ``KeyError`` for a truth or hallu object that
    ``association`` lacks, as the script does.
    """
    vocabulary = {w for key, values in association.items() for w in (key, *values)}
    safe = set(safe_words)
    mentions = hallucinated = covered = truths = covered_hallu = hallus = with_hallucination = 0
    for key, text in responses.items():
        ann = annotations[key]
        truth, hallu = list(ann.get("truth", [])), list(ann.get("hallu", []))
        truth_lookup, hallu_lookup = _credit(truth, association), _credit(hallu, association)
        nouns = [noun for noun in response_nouns(text) if noun in vocabulary]
        seen_truth, seen_hallu, wrong = set(), set(), 0
        for noun in nouns:
            if noun in safe:
                continue
            index = _first(noun, truth_lookup)
            if index is not None:
                seen_truth.add(index)
                continue
            index = _first(noun, hallu_lookup)
            if index is not None:
                seen_hallu.add(index)
            if similar is not None:
                index = _first(noun, hallu_lookup, similar)
                if index is not None:
                    seen_hallu.add(index)
                index = _first(noun, truth_lookup, similar)
                if index is not None:
                    seen_truth.add(index)
                    continue
            wrong += 1
        mentions += len(nouns)
        hallucinated += wrong
        with_hallucination += wrong > 0
        covered += len(seen_truth)
        truths += len(truth)
        covered_hallu += len(seen_hallu)
        hallus += len(hallu)
    return {
        "chair": _pct1(hallucinated, mentions),
        "cover": _pct1(covered, truths),
        "hal": round(100 - (len(responses) - with_hallucination) / len(responses) * 100, 1) if responses else 0.0,
        "cog": _pct1(covered_hallu, hallus),
        "num_mentions": mentions,
        "n": len(responses),
        "nlp": nlp.backend(),
        "similarity": "word vectors" if similar is not None else "left out",
    }


def _f1(precision: float, recall: float, guard: float) -> float:
    p, r = precision / 100, recall / 100
    return round(2 * p * r / (p + r + guard) * 100, 1)


def _scores(answers: list[str | None], truths: list[str], guard: float = 0.0001) -> dict[str, Any]:
    """The script's accuracy, precision, recall (one decimal) and F1 ("no" positive)."""
    said_no = [a == "no" for a in answers]
    truth_no = [t != "yes" for t in truths]  # the script's else branch: anything but "yes"
    right = sum((a == "yes" and not t) or (a == "no" and t) for a, t in zip(answers, truth_no))
    precision = _pct1(sum(s and t for s, t in zip(said_no, truth_no)), sum(said_no))
    recall = _pct1(sum(s and t for s, t in zip(said_no, truth_no)), sum(truth_no))
    return {
        "accuracy": _pct1(right, len(answers)),
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall, guard),
        "unparseable": sum(a not in ("yes", "no") for a in answers),
        "n": len(answers),
    }


def amber_discriminative(
    responses: Mapping[Any, str],
    annotations: Mapping[Any, Mapping[str, Any]],
    read: Callable[[str], str | None] = amber_answer,
) -> dict[str, Any]:
    """``overall``, ``existence``, ``attribute`` (and ``state``, ``number``, ``action``) and
    ``relation`` scores of the yes/no ``responses``; ``read`` turns a response into yes/no/None."""
    groups: dict[str, tuple[list, list]] = {}
    for key, text in responses.items():
        ann = annotations[key]
        kind, truth = str(ann["type"]), str(ann["truth"])
        names = ["overall"]
        if kind == "discriminative-hallucination":
            names.append("existence")
        elif kind in _ATTRIBUTES:
            names += ["attribute", _ATTRIBUTES[kind]]
        else:
            names.append("relation")
        for name in names:
            answers, truths = groups.setdefault(name, ([], []))
            answers.append(read(text))
            truths.append(truth)
    order = ("overall", "existence", "attribute", "state", "number", "action", "relation")
    return {
        name: _scores(*groups[name], guard=0.001 if name == "existence" else 0.0001) for name in order if name in groups
    }
