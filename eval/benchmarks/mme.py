"""MME from its released folder (``MME_Benchmark_release_version``): one folder per subtask, each
question file ``<image>.txt`` holding two ``question<TAB>answer`` lines, beside its image (or, for
some subtasks, in ``questions_answers_YN/`` with the images in ``images/``). By default the
hallucination subset: existence, count, position, color.

Answers are read as MME's ``eval_tool/calculation.py`` reads them
(:func:`mmalign.eval.official_parsing.mme_answer`): lower-cased, an exact ``yes``/``no``, else only the
first four characters count (``"Yes, it is"`` → yes, ``"There is no dog"`` → wrong, ``"Not
really"`` → no). With ``strict_parsing=true``, :func:`mmalign.eval.parsing.parse_yes_no` reads the whole
first sentence instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmalign.errors import DataError

from ..config import EvalConfig
from ..metrics import mme
from ..official_parsing import mme_answer, parsing_mode
from ..parsing import parse_yes_no
from .base import Benchmark, Item
from .pope import LLAVA_SHORT_ANSWER

HALLUCINATION_SUBTASKS = ["existence", "count", "position", "color"]
IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg")


@dataclass
class MMEConfig(EvalConfig):
    mme_root: str = ""  # the MME_Benchmark_release_version folder
    subtasks: list[str] = field(default_factory=lambda: list(HALLUCINATION_SUBTASKS))


def _question_files(folder: Path) -> tuple[Path, Path]:
    """(folder of the .txt files, folder of the images) of one subtask."""
    if (folder / "questions_answers_YN").is_dir():
        return folder / "questions_answers_YN", folder / "images"
    return folder, folder


class MMEBenchmark(Benchmark):
    name = "mme"
    config_cls = MMEConfig
    default_max_new_tokens = 16
    default_prompt_suffix = LLAVA_SHORT_ANSWER

    def load_items(self) -> list[Item]:
        root = Path(self.config.mme_root).expanduser()
        if not root.is_dir():
            raise DataError(f"MME folder not found: {root} (set mme_root=PATH to MME_Benchmark_release_version)")
        items = []
        for subtask in self.config.subtasks:
            folder = root / subtask
            if not folder.is_dir():
                raise DataError(f"no subtask folder {subtask!r} in {root}")
            questions, image_dir = _question_files(folder)
            files = sorted(questions.glob("*.txt"))
            if not files:
                raise DataError(f"no question files (*.txt) in {questions}")
            for txt in files:
                image = next((image_dir / (txt.stem + s) for s in IMAGE_SUFFIXES if (image_dir / (txt.stem + s)).is_file()), None)
                if image is None:
                    raise DataError(f"image file not found: {image_dir / txt.stem}.jpg/.png", source=str(txt), record_id=txt.stem)
                for lineno, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), start=1):
                    if not line.strip():
                        continue
                    parts = line.rsplit("\t", 1)
                    label = parts[-1].strip().lower() if len(parts) == 2 else ""
                    if label not in ("yes", "no"):
                        raise DataError("expected 'question<TAB>Yes|No': not MME's format", source=f"{txt}:{lineno}", record_id=txt.stem)
                    items.append(
                        Item(
                            id=f"{subtask}/{txt.stem}/{lineno}",
                            prompt=parts[0].strip() + self.prompt_suffix,
                            images=[str(image)],
                            source=f"{txt}:{lineno}",
                            meta={"subtask": subtask, "image": txt.stem, "label": label},
                        )
                    )
        return items

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        unparseable = self.tracker("a yes/no answer")
        read = parse_yes_no if self.config.strict_parsing else mme_answer
        answers = []
        for item in items:
            text = records[item.id]["prediction"]
            if read(text) not in ("yes", "no"):
                unparseable.add(item.id, text)
            answers.append((item.meta["subtask"], item.meta["image"], text, item.meta["label"]))
        return {**mme(answers, read=read), "parsing": parsing_mode(self.config.strict_parsing)}
