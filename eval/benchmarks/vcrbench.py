"""VCRBench from its released ``data.json`` (``qid``, ``goal``, ``video_file``, ``ground_truth``: the
0-based clip order) with the videos in ``media_root`` (default: ``videos/`` beside the file).

The video shows shuffled clips, each announced as "Clip 1", "Clip 2", …; the model orders them.
Scored by :func:`mmalign.eval.metrics.vcr_order` (accuracy and step accuracy), plus accuracy by number of
steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmalign.data.jsonio import read_json
from mmalign.errors import DataError

from ..config import EvalConfig
from ..metrics import accuracy_by_group, vcr_order
from ..parsing import parse_order
from .base import Benchmark, Item, require

PROMPT = """This video is made of several short clips, each showing one step of a task: {goal}. The clips \
are shuffled; each begins with its number ("Clip 1", "Clip 2", and so on). Work out what happens in \
each clip, then put the clips in the order that completes the task.

End your answer with one line in this form:
Correct order: <the clip numbers, separated by commas>"""


@dataclass
class VCRConfig(EvalConfig):
    annotation: str = ""  # data.json


class VCRBenchmark(Benchmark):
    name = "vcrbench"
    config_cls = VCRConfig
    default_max_new_tokens = 512

    def load_items(self) -> list[Item]:
        data = read_json(self.config.annotation or "(unset: annotation=PATH)", "VCRBench file")
        if not isinstance(data, list):
            raise DataError(f"{self.config.annotation}: expected a JSON list of questions")
        videos = self.config.media_root or str(Path(self.config.annotation).expanduser().parent / "videos")
        items = []
        for index, record in enumerate(data):
            source = f"{self.config.annotation}[{index}]"
            require(record, ("qid", "goal", "video_file", "ground_truth"), source, str(record.get("qid", index)))
            order = [int(step) + 1 for step in record["ground_truth"]]
            if sorted(order) != list(range(1, len(order) + 1)):
                raise DataError(f"ground_truth {record['ground_truth']} is not an order of 0..n-1", source=source, record_id=str(record["qid"]))
            items.append(
                Item(
                    id=str(record["qid"]),
                    prompt=PROMPT.format(goal=str(record["goal"]).strip().rstrip(".")),
                    video=self.media_path(record["video_file"], videos),
                    source=source,
                    meta={"order": order},
                )
            )
        return items

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        unparseable = self.tracker("a clip order")
        predicted, truth = [], []
        for item in items:
            text = records[item.id]["prediction"]
            order = parse_order(text, len(item.meta["order"]))
            if order is None:
                unparseable.add(item.id, text)
            predicted.append(order)
            truth.append(item.meta["order"])
        metrics = vcr_order(predicted, truth)
        metrics["by_steps"] = accuracy_by_group([p == t for p, t in zip(predicted, truth)], [f"{len(t)}_steps" for t in truth])
        return metrics
