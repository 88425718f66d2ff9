"""One multiple-choice evaluator for the video benchmarks (TVBench, MVBench, Video-MME, MLVU,
LongVideoBench, TempCompass, VidHalluc); :mod:`mmalign.eval.benchmarks.mc_formats` reads each format.

The question is asked with its options lettered; the answer letter is read from free text
(:func:`mmalign.eval.parsing.parse_choice`; a set of letters for VidHalluc, where several options may be
right and all must be given). Reports ``accuracy`` over all questions, the accuracy of each group
(task, dimension or duration, as the benchmark reports them) and ``group_mean``, their unweighted
mean. Subtitles (Video-MME, LongVideoBench) are not given to the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import EvalConfig
from ..metrics import accuracy_by_group
from ..metrics.common import pct
from ..parsing import parse_choice, parse_choices
from .base import Benchmark, Item
from .mc_formats import LETTERS, READERS

SINGLE = "\nAnswer with the option's letter from the given choices directly."
MULTIPLE = "\nOne or more options may be correct. Answer with the letters of every correct option (for example: AC)."


@dataclass
class VideoMCConfig(EvalConfig):
    annotation: str = ""  # the benchmark's question file or folder (see mmalign.eval.benchmarks.mc_formats)
    video_dirs: dict[str, str] = field(default_factory=dict)  # task → video folder (MVBench-style layouts)
    use_segments: bool = True  # sample only the annotated start/end segment when a question has one


def render_question(question: str, options: list[str], suffix: str) -> str:
    lines = [question.strip()] + [f"{LETTERS[i]}. {option}" for i, option in enumerate(options)]
    return "\n".join(lines) + suffix


class VideoMCBenchmark(Benchmark):
    name = "video_mc"
    config_cls = VideoMCConfig
    default_max_new_tokens = 16

    @property
    def multiple(self) -> bool:
        return READERS[self.config.benchmark][1]

    @property
    def prompt_suffix(self) -> str:
        if self.config.prompt_suffix is not None:
            return self.config.prompt_suffix
        return MULTIPLE if self.multiple else SINGLE

    def load_items(self) -> list[Item]:
        reader, _ = READERS[self.config.benchmark]
        questions = reader(
            self.config.annotation, self.config.media_root, video_dirs=self.config.video_dirs, segments=self.config.use_segments
        )
        return [
            Item(
                id=q.id,
                prompt=render_question(q.question, q.options, self.prompt_suffix),
                video=q.video,
                video_span=q.span,
                source=q.source,
                meta={"options": q.options, "answer": sorted(q.answer), "group": q.group},
            )
            for q in questions
        ]

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        unparseable = self.tracker("an option letter")
        correct, groups = [], []
        for item in items:
            text = records[item.id]["prediction"]
            options = item.meta["options"]
            picked = parse_choices(text, options) if self.multiple else parse_choice(text, options)
            if picked is None:
                unparseable.add(item.id, text)
            chosen = sorted(picked) if isinstance(picked, frozenset) else [picked]
            correct.append(picked is not None and chosen == item.meta["answer"])
            groups.append(item.meta["group"])
        by_group = accuracy_by_group(correct, groups)
        return {
            "accuracy": pct(sum(correct), len(correct)),
            "group_mean": sum(by_group.values()) / len(by_group),
            "groups": by_group,
            "unparseable": unparseable.count,
            "n": len(items),
        }
