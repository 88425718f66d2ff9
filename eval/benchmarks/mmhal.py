"""MMHal-Bench from its released ``response_template.json`` (``question_type``, ``question``,
``gt_answer``, ``image_content``, ``image_src``, ``image_id``); images in ``media_root`` under the file
name of ``image_src`` (or ``<image_id>.jpg``).

Judged as the benchmark's ``eval_gpt4.py`` judges: its prompt word for word
(:mod:`mmalign.eval.benchmarks.mmhal_prompt`) as one user message, temperature 0, at most 300 tokens, by
any OpenAI-compatible model (:mod:`mmalign.eval.judge`; replies kept in ``judgements.jsonl``). Its scale:
6–3 free of hallucination (3: "not informative, no hallucination"), 2–0 with hallucination.

Reading the rating, as ``eval_gpt4.py`` does: the reply counts when exactly one of ``rating: 0`` …
``rating: 6`` occurs in it, lower-cased (``"Rating:5"`` without the space is not read); otherwise
the answer scores 0 and counts as hallucinated. With ``strict_parsing=true`` the rating is read by
:func:`mmalign.eval.parsing.parse_rating` (``Rating:5``, ``rating = 5``, ``**Rating:** 5`` are read; an
unreadable reply still scores 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmalign.data.jsonio import read_json
from mmalign.errors import DataError

from ..config import EvalConfig
from ..judge import judge_all, openai_judge
from ..metrics import mmhal
from ..official_parsing import mmhal_rating, parsing_mode
from ..parsing import parse_rating
from .base import Benchmark, Item, require
from .mmhal_prompt import JUDGE_TEMPLATE

@dataclass
class MMHalConfig(EvalConfig):
    annotation: str = ""  # response_template.json
    judge_model: str = "gpt-4o"
    judge_base_url: str | None = None  # any OpenAI-compatible server; default: the OpenAI API
    judge_api_key_env: str = "OPENAI_API_KEY"
    judge_concurrency: int = 8
    judge_max_tokens: int = 300  # as eval_gpt4.py


class MMHalBenchmark(Benchmark):
    name = "mmhal"
    config_cls = MMHalConfig
    default_max_new_tokens = 512
    judge: Any = None

    def load_items(self) -> list[Item]:
        data = read_json(self.config.annotation or "(unset: annotation=PATH)", "MMHal-Bench file")
        if not isinstance(data, list):
            raise DataError(f"{self.config.annotation}: expected a JSON list (response_template.json)")
        items = []
        for index, record in enumerate(data):
            source = f"{self.config.annotation}[{index}]"
            require(record, ("question", "gt_answer", "question_type"), source, str(index))
            if record.get("image_src"):
                image = str(record["image_src"]).rstrip("/").rsplit("/", 1)[-1]
            elif record.get("image_id"):
                image = f"{record['image_id']}.jpg"
            else:
                raise DataError("missing field 'image_src' (or 'image_id')", source=source, record_id=str(index))
            items.append(
                Item(
                    id=str(index),
                    prompt=str(record["question"]),
                    images=[self.media_path(image)],
                    source=source,
                    meta={key: record.get(key) for key in ("question", "gt_answer", "question_type", "image_content")},
                )
            )
        return items

    def score(self, items: list[Item], records: dict[str, dict], workdir: Path) -> dict[str, Any]:
        c = self.config
        judge = self.judge or openai_judge(c.judge_model, c.judge_base_url, c.judge_api_key_env, c.judge_concurrency)
        requests = {}
        for item in items:
            contents = item.meta.get("image_content") or []
            prompt = JUDGE_TEMPLATE.format(
                ", ".join(map(str, contents)) if isinstance(contents, list) else str(contents),
                item.meta["question"],
                item.meta["gt_answer"],
                records[item.id]["prediction"],
            )
            requests[item.id] = [{"role": "user", "content": prompt}]
        name = c.judge_model if self.judge is None else getattr(self.judge, "model", "custom")
        replies = judge_all(judge, requests, workdir / "judgements.jsonl", c.judge_concurrency, c.judge_max_tokens, name)
        unparseable = self.tracker("a 'Rating: N' in the judge's reply", str(workdir / "judgements.jsonl"))
        read = parse_rating if c.strict_parsing else mmhal_rating
        ratings = []
        for item in items:
            rating = read(replies[item.id])
            if rating is None:
                unparseable.add(item.id, replies[item.id])
            ratings.append((rating, str(item.meta["question_type"])))
        return {**mmhal(ratings), "parsing": parsing_mode(c.strict_parsing)}
