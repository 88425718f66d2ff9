"""How often the offline word pipeline of :mod:`mmalign.eval.nlp` finds the same objects as nltk's.

Needs nltk's data installed (the official path) and a file of texts: a JSON list of strings, a JSON
list of records with ``answer``/``caption``/``response`` fields (MLVU's ``8_sub_scene.json`` and
``9_summary.json`` are such files), or one text per line. For each text it compares, between the
two paths, CHAIR's COCO mentions (with the token count) and AMBER's vocabulary nouns (with
``--amber-relation``)::

    python bench/nlp_agreement.py MLVU/json/8_sub_scene.json MLVU/json/9_summary.json \\
        --amber-relation data/amber/data/relation.json

Measured on a 2-core CPU without GPU, on MLVU's 418 scene descriptions and summaries (30,529
words), with nltk 3.10.4, its averaged perceptron tagger and WordNet 3.0 (the Punkt parameters were
the default ones on both sides):

| metric | texts | mentions | texts that differ | mentions that differ |
|---|---|---|---|---|
| CHAIR (COCO objects) | 418 | 2386 | 3 | 3 |
| CHAIR length (tokens) | 418 | – | 0 | – |
| AMBER (vocabulary nouns) | 418 | 3421 | 80 | 101 |

The offline tagger's corrections were chosen on these same texts, so these are not held-out
numbers.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def read_texts(paths: list[Path]) -> list[str]:
    texts = []
    for path in paths:
        raw = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            for entry in json.loads(raw):
                if isinstance(entry, str):
                    texts.append(entry)
                else:
                    texts.append(next(str(entry[k]) for k in ("answer", "caption", "response") if k in entry))
        else:
            texts += [line for line in raw.splitlines() if line.strip()]
    return texts


def run(texts: list[str], vocabulary: set[str] | None, offline: bool) -> tuple[list, list]:
    from mmalign.eval import nlp

    os.environ["MMALIGN_NLP"] = "offline" if offline else ""
    nlp.backend.cache_clear()
    if not offline and nlp.backend() != nlp.NLTK:
        raise SystemExit("nltk's data is not installed: the official path cannot run (see eval/nlp.py)")
    chair = importlib.import_module("mmalign.eval.metrics.chair")
    amber = importlib.import_module("mmalign.eval.metrics.amber")
    merged = [chair.coco_words(text) for text in texts]
    coco = [(chair.coco_mentions(m), len(m)) for m in merged]
    nouns = [[n for n in amber.response_nouns(t) if n in vocabulary] for t in texts] if vocabulary else []
    return coco, nouns


def differences(a: list[list], b: list[list]) -> tuple[int, int]:
    texts = mentions = 0
    for x, y in zip(a, b):
        cx, cy = collections.Counter(map(tuple, x) if x and isinstance(x[0], list) else x), collections.Counter(y)
        d = (cx - cy) + (cy - cx)
        texts += bool(d)
        mentions += sum(d.values())
    return texts, mentions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--amber-relation", type=Path)
    args = parser.parse_args()
    texts = read_texts(args.files)
    vocabulary = None
    if args.amber_relation:
        association = json.loads(args.amber_relation.read_text(encoding="utf-8"))
        vocabulary = {w for key, values in association.items() for w in (key, *values)}
    official, offline = run(texts, vocabulary, False), run(texts, vocabulary, True)
    rows = [("CHAIR (COCO objects)", [m for m, _ in official[0]], [m for m, _ in offline[0]])]
    if vocabulary:
        rows.append(("AMBER (vocabulary nouns)", official[1], offline[1]))
    print("| metric | texts | mentions | texts that differ | mentions that differ |\n|---|---|---|---|---|")
    for name, a, b in rows:
        texts_differ, mentions_differ = differences(a, b)
        print(f"| {name} | {len(texts)} | {sum(map(len, a))} | {texts_differ} | {mentions_differ} |")
    lengths = sum(x[1] != y[1] for x, y in zip(official[0], offline[0]))
    print(f"| CHAIR length (tokens) | {len(texts)} | – | {lengths} | – |")


if __name__ == "__main__":
    main()
