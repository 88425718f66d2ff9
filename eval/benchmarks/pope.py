"""POPE from its released question files (``coco_pope_random.json`` …: one JSON object per line with
``question_id``, ``image``, ``text``, ``label``), on the COCO val2014 images in ``media_root``.

``annotation`` is one such file or a folder of them; every file of a folder is one split (random,
popular, adversarial), scored on its own and averaged.

Answers are read as POPE's ``eval_pope.py`` reads them (:func:`mmalign.eval.official_parsing.pope_answer`):
the first sentence is "no" when one of its words is exactly ``No``, ``no`` or ``not``, and "yes"
otherwise — so an answer without yes or no (``"I cannot tell"``) counts as yes, and nothing is
unparseable. With ``strict_parsing=true``, :func:`mmalign.eval.parsing.parse_yes_no` reads them instead and
an answer without a yes or no is unparseable and wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmalign.data.jsonio import iter_json_records
from mmalign.errors import DataError

from ..config import EvalConfig
from ..metrics import pope
from ..official_parsing import parsing_mode, pope_answer
from ..parsing import parse_yes_no
from .base import Benchmark, Item, require

LLAVA_SHORT_ANSWER = "\nAnswer the question using a single word or phrase."


@dataclass
class PopeConfig(EvalConfig):
    annotation: str = ""  # a coco_pope_<split>.json file or the folder holding them


def split_name(path: Path) -> str:
    found = re.search(r"(random|popular|adversarial)", path.stem)
    return found.group(1) if found else path.stem


def question_files(annotation: str) -> list[Path]:
    path = Path(annotation).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))
        if not files:
            raise DataError(f"no .json/.jsonl question files in {path}")
        return files
    if not path.is_file():
        raise DataError(f"annotation file not found: {path} (set annotation=PATH)")
    return [path]


class PopeBenchmark(Benchmark):
    name = "pope"
    config_cls = PopeConfig
    default_max_new_tokens = 16
    default_prompt_suffix = LLAVA_SHORT_ANSWER

    def load_items(self) -> list[Item]:
        items = []
        for path in question_files(self.config.annotation):
            split = split_name(path)
            for line, record in iter_json_records(path):
                source = f"{path}:{line}"
                require(record, ("question_id", "image", "text", "label"), source, str(record.get("question_id")))
                label = str(record["label"]).strip().lower()
                if label not in ("yes", "no"):
                    raise DataError(f"label must be yes or no, got {record['label']!r}", source=source, record_id=str(record["question_id"]))
                items.append(
                    Item(
                        id=f"{split}/{record['question_id']}",
                        prompt=str(record["text"]) + self.prompt_suffix,
                        images=[self.media_path(record["image"])],
                        source=source,
                        meta={"label": label, "split": split},
                    )
                )
        return items

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        unparseable = self.tracker("a yes/no answer")
        read = parse_yes_no if self.config.strict_parsing else pope_answer
        splits: dict[str, tuple[list, list]] = {}
        for item in items:
            text = records[item.id]["prediction"]
            if read(text) is None:
                unparseable.add(item.id, text)
            predictions, labels = splits.setdefault(item.meta["split"], ([], []))
            predictions.append(text)
            labels.append(item.meta["label"])
        metrics: dict[str, Any] = {split: pope(*pair, read=read) for split, pair in splits.items()}
        if len(metrics) > 1:
            keys = ("accuracy", "precision", "recall", "f1", "yes_ratio")
            metrics["mean"] = {k: sum(m[k] for m in metrics.values()) / len(metrics) for k in keys}
        metrics["parsing"] = parsing_mode(self.config.strict_parsing)
        return metrics
