"""VideoHallucer from its released folder: one folder per hallucination type, each with
``<type>.json`` (a list of ``{basic: {video, question, answer}, hallucination: {…}, type}``) and the
videos in ``<type>/videos/``.

Each pair is a basic question (answer usually yes) and a hallucinated one (answer usually no) about
the same video. Per type: ``basic_accuracy``, ``hallucinated_accuracy`` and ``accuracy``, the % of
pairs with both answers right; ``overall`` averages the types, as the benchmark does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmalign.data.jsonio import read_json
from mmalign.errors import DataError

from ..config import EvalConfig
from ..metrics.common import pct
from ..parsing import parse_yes_no
from .base import Benchmark, Item, require

TYPES = ["object_relation", "temporal", "semantic_detail", "external_factual", "external_nonfactual"]


@dataclass
class VideoHallucerConfig(EvalConfig):
    annotation: str = ""  # the dataset folder (or one <type>.json, with its videos in media_root)
    types: list[str] = field(default_factory=lambda: list(TYPES))


class VideoHallucerBenchmark(Benchmark):
    name = "videohallucer"
    config_cls = VideoHallucerConfig
    default_max_new_tokens = 16
    default_prompt_suffix = "\nAnswer the question using 'yes' or 'no'."

    def _files(self) -> list[tuple[str, Path, Path]]:
        """(type, question file, video folder) for each type to evaluate."""
        root = Path(self.config.annotation).expanduser()
        if root.is_file():
            videos = Path(self.config.media_root).expanduser() if self.config.media_root else root.parent / "videos"
            return [(root.stem, root, videos)]
        if not root.is_dir():
            raise DataError(f"VideoHallucer folder not found: {root} (set annotation=PATH)")
        found = []
        for kind in self.config.types:
            path = root / kind / f"{kind}.json"
            if not path.is_file():
                raise DataError(f"no {kind}/{kind}.json in {root}")
            found.append((kind, path, root / kind / "videos"))
        return found

    def load_items(self) -> list[Item]:
        items = []
        for kind, path, videos in self._files():
            data = read_json(path, "VideoHallucer file")
            if not isinstance(data, list):
                raise DataError(f"{path}: expected a list of question pairs")
            for index, pair in enumerate(data):
                source = f"{path}[{index}]"
                require(pair, ("basic", "hallucination"), source, f"{kind}/{index}")
                for side in ("basic", "hallucination"):
                    record = pair[side]
                    require(record, ("video", "question", "answer"), source, f"{kind}/{index}/{side}")
                    items.append(
                        Item(
                            id=f"{kind}/{index}/{side}",
                            prompt=str(record["question"]) + self.prompt_suffix,
                            video=str(videos / record["video"]),
                            source=source,
                            meta={"type": kind, "pair": f"{kind}/{index}", "side": side, "label": str(record["answer"]).strip().lower()},
                        )
                    )
        return items

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        unparseable = self.tracker("a yes/no answer")
        right: dict[str, dict[str, bool]] = {}
        kinds: dict[str, str] = {}
        for item in items:
            text = records[item.id]["prediction"]
            answer = parse_yes_no(text)
            if answer is None:
                unparseable.add(item.id, text)
            right.setdefault(item.meta["pair"], {})[item.meta["side"]] = answer == item.meta["label"]
            kinds[item.meta["pair"]] = item.meta["type"]
        metrics: dict[str, Any] = {}
        for kind in dict.fromkeys(kinds.values()):
            pairs = [r for pair, r in right.items() if kinds[pair] == kind]
            metrics[kind] = {
                "basic_accuracy": pct(sum(r.get("basic", False) for r in pairs), len(pairs)),
                "hallucinated_accuracy": pct(sum(r.get("hallucination", False) for r in pairs), len(pairs)),
                "accuracy": pct(sum(r.get("basic", False) and r.get("hallucination", False) for r in pairs), len(pairs)),
                "n": len(pairs),
            }
        keys = ("basic_accuracy", "hallucinated_accuracy", "accuracy")
        metrics["overall"] = {k: sum(m[k] for m in metrics.values()) / len(metrics) for k in keys}
        metrics["unparseable"] = unparseable.count
        return metrics
