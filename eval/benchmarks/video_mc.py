"""One multiple-choice evaluator for the video benchmarks (TVBench, MVBench, Video-MME, MLVU,
LongVideoBench, TempCompass, VidHalluc); :mod:`mmalign.eval.benchmarks.mc_formats` reads each format.

The question is asked with its options lettered. Reports ``accuracy``, the accuracy of each group
(task, dimension or duration, as the benchmark reports them) and ``group_mean``, their unweighted
mean. Subtitles (Video-MME, LongVideoBench) are not given to the model.

Answers are read as each benchmark's own script reads them (:mod:`mmalign.eval.official_parsing`):

* Video-MME (``eval_your_results.py``): the first capital A–D left after removing its answer
  prefixes, anywhere in the answer (``"A man…"`` reads as A). An answer with none is *left out of
  the denominator* of every accuracy, as the script does; ``unanswered`` counts them.
* MLVU (``choice_bench.py``): the character before the first ``)``, else the whole answer, which
  must then be exactly the letter (``"A."`` is wrong). The question is put in MLVU's own layout
  (``Question: …`` / ``Options:`` / ``(A) …``) so that answers come as ``(A)``. ``group_mean`` is
  the script's ``Avg``.
* VidHalluc (``eval_mcq.py``): the set of capitals A–D standing alone (``"A, C"``; ``"AC"`` reads
  as nothing), else the first option whose text is in the answer; right only when it equals the
  set of correct letters. The prompt asks for the letters separated by commas.
* TVBench, MVBench, LongVideoBench, TempCompass: the letter as :func:`mmalign.eval.parsing.parse_choice`
  reads it (their scripts agree on answers that give a letter).

With ``strict_parsing=true`` every benchmark uses :func:`mmalign.eval.parsing.parse_choice` (a set of
letters, :func:`mmalign.eval.parsing.parse_choices`, for VidHalluc, where ``"AC"`` reads as A and C), and
an unreadable answer stays in the denominator as wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import EvalConfig
from ..metrics import accuracy_by_group
from ..metrics.common import pct
from ..official_parsing import mlvu_letter, parsing_mode, vidhalluc_letters, videomme_letter
from ..parsing import parse_choice, parse_choices
from .base import Benchmark, Item
from .mc_formats import LETTERS, READERS

SINGLE = "\nAnswer with the option's letter from the given choices directly."
MULTIPLE = (
    "\nOne or more options may be correct. Answer with the letters of every correct option, "
    "separated by commas (for example: A, C)."
)
#: MLVU's ``choice_bench.py`` asks for the best option after its ``(A) …`` option lines.
MLVU_SUFFIX = "\nOnly give the best option."


@dataclass
class VideoMCConfig(EvalConfig):
    annotation: str = ""  # the benchmark's question file or folder (see mmalign.eval.benchmarks.mc_formats)
    video_dirs: dict[str, str] = field(default_factory=dict)  # task → video folder (MVBench-style layouts)
    use_segments: bool = True  # sample only the annotated start/end segment when a question has one


def render_question(question: str, options: list[str], suffix: str) -> str:
    lines = [question.strip()] + [f"{LETTERS[i]}. {option}" for i, option in enumerate(options)]
    return "\n".join(lines) + suffix


def render_mlvu_question(question: str, options: list[str], suffix: str) -> str:
    """MLVU's own layout (``qa_template`` of its ``choice_bench.py``)."""
    lines = [f"Question: {question}", "Options:"] + [f"({LETTERS[i]}) {option}" for i, option in enumerate(options)]
    return "\n".join(lines).rstrip() + suffix


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
        if self.config.benchmark == "mlvu":
            return MLVU_SUFFIX
        return MULTIPLE if self.multiple else SINGLE

    def load_items(self) -> list[Item]:
        reader, _ = READERS[self.config.benchmark]
        questions = reader(
            self.config.annotation, self.config.media_root, video_dirs=self.config.video_dirs, segments=self.config.use_segments
        )
        render = render_mlvu_question if self.config.benchmark == "mlvu" else render_question
        return [
            Item(
                id=q.id,
                prompt=render(q.question, q.options, self.prompt_suffix),
                video=q.video,
                video_span=q.span,
                source=q.source,
                meta={"options": q.options, "answer": sorted(q.answer), "group": q.group,
                      **({"choices": q.choices} if q.choices else {})},
            )
            for q in questions
        ]

    def read(self, text: str, item: Item) -> list[str] | None:
        """The letters an answer picks, as the benchmark's script (or, strict, the project) reads
        them; ``None`` when nothing can be read."""
        options, benchmark = item.meta["options"], self.config.benchmark
        if self.config.strict_parsing:
            picked = parse_choices(text, options) if self.multiple else parse_choice(text, options)
            return None if picked is None else sorted(picked)
        if benchmark == "videomme":
            letter = videomme_letter(text)
            return None if letter is None else [letter]
        if benchmark == "mlvu":
            letter = mlvu_letter(text)
            return [letter] if letter in LETTERS[: len(options)] and letter else None
        if benchmark == "vidhalluc":
            letters = vidhalluc_letters(text, item.meta.get("choices") or dict(zip(LETTERS, options)))
            return sorted(letters) if letters else None
        letter = parse_choice(text, options)
        return None if letter is None else [letter]

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        # Video-MME's script drops unreadable answers from every denominator; the others count them wrong.
        drop_unread = self.config.benchmark == "videomme" and not self.config.strict_parsing
        unparseable = self.tracker("an option letter", outcome="left out, as Video-MME's script does" if drop_unread else "scored as wrong")
        correct, groups = [], []
        for item in items:
            text = records[item.id]["prediction"]
            picked = self.read(text, item)
            if picked is None:
                unparseable.add(item.id, text)
                if drop_unread:
                    continue
            correct.append(picked == item.meta["answer"])
            groups.append(item.meta["group"])
        by_group = accuracy_by_group(correct, groups)
        metrics = {
            "accuracy": pct(sum(correct), len(correct)),
            "group_mean": sum(by_group.values()) / len(by_group) if by_group else 0.0,
            "groups": by_group,
            "unparseable": unparseable.count,
            "n": len(items),
            "parsing": parsing_mode(self.config.strict_parsing),
        }
        if drop_unread:
            metrics["answered"] = len(correct)
        return metrics
