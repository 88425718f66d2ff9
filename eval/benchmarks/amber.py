"""AMBER from its released files: a query file (``query_all.json``, ``query_generative.json`` or
``query_discriminative.json``: ``id``, ``image``, ``query``), ``annotations.json`` (per id: ``type``,
``truth``, ``hallu``), the word association table ``relation.json`` and ``safe_words.txt``; images
in ``media_root``.

Reports the generative scores (CHAIR, Cover, Hal, Cog), the discriminative ones (accuracy,
precision, recall, F1 overall and for existence, attribute — state, number, action — and
relation) and, with both, the AMBER score (100 − CHAIR + F1) / 2, all as AMBER's ``inference.py``
computes them (:mod:`mmalign.eval.metrics.amber`: nouns only, one decimal).

Reading the yes/no answers, as ``inference.py`` does: only the exact responses ``Yes`` and ``No``
count; ``"Yes."`` or ``"no"`` is wrong. (HALVA's generation script turns every answer into ``Yes``
when it contains "yes" and ``No`` otherwise before scoring; ask for short answers, as the default
prompt suffix does.) With ``strict_parsing=true`` :func:`mmalign.eval.parsing.parse_yes_no` reads them.

The script's word-vector step (spaCy ``en_core_web_lg``) runs when spaCy and that model are
installed; otherwise it is left out and ``generative.similarity`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmalign.data.jsonio import read_json, read_text
from mmalign.errors import DataError

from ..config import EvalConfig
from ..metrics import amber_discriminative, amber_generative
from ..official_parsing import amber_answer, parsing_mode
from ..parsing import parse_yes_no
from .base import Benchmark, Item, require
from .pope import LLAVA_SHORT_ANSWER


@dataclass
class AmberConfig(EvalConfig):
    query_file: str = ""  # data/query/query_all.json (or _generative / _discriminative)
    annotation_file: str = ""  # data/annotations.json
    word_association: str = ""  # data/relation.json: AMBER's word association table
    safe_words: str = ""  # data/safe_words.txt
    answer_max_new_tokens: int = 16  # for the yes/no questions


class AmberBenchmark(Benchmark):
    name = "amber"
    config_cls = AmberConfig
    default_max_new_tokens = 512
    default_prompt_suffix = LLAVA_SHORT_ANSWER

    def annotations(self) -> dict[int, dict[str, Any]]:
        if not hasattr(self, "_annotations"):
            data = read_json(self.config.annotation_file or "(unset: annotation_file=PATH)", "AMBER annotation file")
            if not isinstance(data, list):
                raise DataError(f"{self.config.annotation_file}: expected a JSON list of annotations")
            out = {}
            for index, record in enumerate(data):
                source = f"{self.config.annotation_file}[{index}]"
                require(record, ("id", "type", "truth"), source, str(record.get("id")))
                out[int(record["id"])] = record
            self._annotations = out
        return self._annotations

    def load_items(self) -> list[Item]:
        queries = read_json(self.config.query_file or "(unset: query_file=PATH)", "AMBER query file")
        if not isinstance(queries, list):
            raise DataError(f"{self.config.query_file}: expected a JSON list of queries")
        annotations = self.annotations()
        items = []
        for index, record in enumerate(queries):
            source = f"{self.config.query_file}[{index}]"
            require(record, ("id", "image", "query"), source, str(record.get("id")))
            ann = annotations.get(int(record["id"]))
            if ann is None:
                raise DataError(f"no annotation with this id in {self.config.annotation_file}", source=source, record_id=str(record["id"]))
            generative = ann["type"] == "generative"
            items.append(
                Item(
                    id=str(record["id"]),
                    prompt=str(record["query"]) + ("" if generative else self.prompt_suffix),
                    images=[self.media_path(record["image"])],
                    max_new_tokens=None if generative else self.config.answer_max_new_tokens,
                    source=source,
                    meta={"generative": generative},
                )
            )
        return items

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        annotations = self.annotations()
        generative = {int(i.id): records[i.id]["prediction"] for i in items if i.meta["generative"]}
        discriminative = {int(i.id): records[i.id]["prediction"] for i in items if not i.meta["generative"]}
        metrics: dict[str, Any] = {"parsing": parsing_mode(self.config.strict_parsing)}
        if generative:
            association = read_json(self.config.word_association or "(unset: word_association=PATH)", "AMBER word association file")
            safe_path = Path(self.config.safe_words).expanduser()
            if not safe_path.is_file():
                raise DataError(f"AMBER safe words file not found: {safe_path} (set safe_words=PATH)")
            # The script keeps every line of the file, empty ones included, without stripping.
            safe = read_text(safe_path).split("\n")
            for key in generative:
                missing = [w for w in [*annotations[key].get("truth", []), *annotations[key].get("hallu", [])] if w not in association]
                if missing:
                    raise DataError(f"object {missing[0]!r} is not in {self.config.word_association}", source=self.config.annotation_file, record_id=str(key))
            metrics["generative"] = amber_generative(generative, annotations, association, safe, spacy_similarity())
        if discriminative:
            read = parse_yes_no if self.config.strict_parsing else amber_answer
            unparseable = self.tracker("an exact Yes or No" if not self.config.strict_parsing else "a yes/no answer")
            for key, text in discriminative.items():
                if read(text) is None:
                    unparseable.add(str(key), text)
            metrics["discriminative"] = amber_discriminative(discriminative, annotations, read)
        if generative and discriminative:
            metrics["amber_score"] = (100 - metrics["generative"]["chair"] + metrics["discriminative"]["overall"]["f1"]) / 2
        return metrics


def spacy_similarity(threshold: float = 0.8) -> Any:
    """AMBER's word-vector test (``en_core_web_lg`` similarity above ``threshold``), or ``None``
    when spaCy or that model is not installed."""
    try:
        import spacy

        model = spacy.load("en_core_web_lg")
    except (ImportError, OSError):
        return None
    from functools import lru_cache

    @lru_cache(maxsize=65536)
    def similar(word: str, other: str) -> bool:
        return model(word).similarity(model(other)) > threshold

    return similar
