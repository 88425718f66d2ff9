"""RRPO self-alignment pairs: the model's own wrong answers as rejected responses.

Input: JSON/JSONL question records ``{id, question, answer, video | image | images, options?,
answer_type?}``. The model being aligned (:mod:`mmalign.data_gen.answerer`) answers each question on the
original input and on each perturbed one (:mod:`mmalign.data_gen.perturb`). Closed-form answers are checked
by normalised matching (:mod:`mmalign.data_gen.matching`); answers that list objects (``answer_type:
objects``, and every open-ended answer once ``synonyms_file`` is set) against that object
vocabulary; other open-ended ones by the LLM judge. Each distinct wrong answer is y⁻; y⁺ is the
ground truth aligned to it: by template for closed forms, by putting the truth's objects in place
of the hallucinated ones for object lists, by the two-turn LLM step for open-ended answers (find
the key differences, then rewrite). The differing phrases come from a word-level diff of y⁺ and
y⁻. Pairs are trained on the original input.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from mmalign.eval.synonyms import read_synonyms
from mmalign.data.jsonio import iter_json_records
from mmalign.data.media import load_image, load_video, resolve_media_path
from mmalign.data.tags import diff_spans, differing_share, has_tags, tag_text
from mmalign.errors import ConfigError, DataError

from .backends import Rejected
from .matching import (
    ANSWER_TYPES,
    LETTERS,
    aligned_truth,
    answer_type,
    is_correct,
    normalize,
)
from .perturb import IMAGE, VIDEO, PerturbOptions, perturb_image, perturb_video
from .pipeline import Outcome, Pipeline, WorkItem
from .prompts import (
    REWRITE,
    differences_messages,
    judge_messages,
    parse_differences,
    parse_judgement,
    parse_rewrite,
)

logger = logging.getLogger("mmalign.data_gen")
HINTS = {
    "mc": "Answer with the option's letter from the given choices directly.",
    "yesno": "Answer yes or no.",
    "short": "Answer the question using a single word or phrase.",
}


class SelfAlignPipeline(Pipeline):
    name = "selfalign"
    vocabulary: dict[str, str | None] | None = None  # of synonyms_file, read by plan()

    def plan(self) -> list[WorkItem]:
        cfg = self.config
        unknown = sorted(set(cfg.perturbations) - set(VIDEO) - set(IMAGE))
        if unknown:
            raise ConfigError(f"unknown perturbations {unknown}; expected some of {', '.join(sorted(set(VIDEO) | set(IMAGE)))}")
        if not cfg.model:
            raise ConfigError("the selfalign pipeline needs model=HUB_ID_OR_PATH (the model being aligned)")
        if not cfg.input_file:
            raise ConfigError("the selfalign pipeline needs input_file=PATH (questions with ground truth)")
        items = []
        for index, (lineno, record) in enumerate(iter_json_records(Path(cfg.input_file).expanduser())):
            record_id = str(record.get("id", record.get("sample_id", index)))
            items.append(WorkItem(record_id, record, f"{cfg.input_file}:{lineno}"))
        self.vocabulary = self._vocabulary(items)
        return items

    def _vocabulary(self, items: list[WorkItem]) -> dict[str, str | None] | None:
        """The object vocabulary of ``synonyms_file``; required as soon as a record lists objects."""
        if self.config.synonyms_file:
            return read_synonyms(self.config.synonyms_file)
        item = next((i for i in items if i.payload.get("answer_type") == "objects"), None)
        if item is not None:
            raise ConfigError(f"{item.source}: record {item.id!r} has answer_type objects, which needs "
                              "synonyms_file=PATH (JSON category → words, or CHAIR's synonyms.txt)")
        return None

    async def start(self) -> None:
        await super().start()
        from .answerer import Answerer

        self.answerer = Answerer(self.config)
        self.options = PerturbOptions(self.config.mask_ratio, self.config.crop_ratio, self.config.subsample_stride)

    def _skip(self, item: WorkItem, reason: str, message: str) -> Rejected:
        logger.warning("%s", DataError(f"{message}; skipped", source=item.source, record_id=item.id))
        return Rejected(reason, message)

    async def process(self, item: WorkItem) -> Outcome:
        record, cfg = item.payload, self.config
        question, answer = str(record.get("question", "")).strip(), record.get("answer")
        if not question:
            raise self._skip(item, "invalid_record", "no question")
        if answer is None or not str(answer).strip():
            raise self._skip(item, "no_ground_truth", "no answer (ground truth)")
        answer = str(answer).strip()
        options = _options(record.get("options"))
        kind = record.get("answer_type") or answer_type(answer, options, cfg.short_answer_words)
        if kind == "open" and not record.get("answer_type") and self.vocabulary is not None:
            kind = "objects"  # a synonym table makes object lists the default open-ended answer
        if kind not in ANSWER_TYPES:
            raise self._skip(item, "invalid_record", f"unknown answer_type {kind!r}")
        if kind == "open" and self.llm is None:
            raise self._skip(item, "needs_llm", "an open-ended answer needs an LLM judge (llm=none)")
        prompt = _prompt(question, options, kind)
        variants = self._variants(item, record)
        predictions = await asyncio.gather(*(self.answerer.answer(prompt, images, frames) for _, images, frames in variants))
        outcome = Outcome()
        wrong: dict[str, tuple[str, str]] = {}
        for (name, _, _), prediction in zip(variants, predictions, strict=True):
            if not prediction or has_tags(prediction):
                outcome.reject("empty_answer" if not prediction else "invalid_answer")
                continue
            if normalize(prediction) in wrong:  # the same mistake on another perturbation
                continue
            try:
                if await self._wrong(question, answer, prediction, kind, options):
                    wrong[normalize(prediction)] = (name, prediction)
            except Rejected as err:
                outcome.reject(err.reason, f"{item.id}/{name}: {err.detail}")
        if not wrong:
            outcome.reject("answered_correctly")
        media = {"video": record["video"]} if record.get("video") else {"images": _images(record)}
        for name, prediction in wrong.values():
            try:
                truth = await self._truth(answer, prediction, kind, options)
                chosen, rejected = self._tag(truth, prediction, kind)
            except Rejected as err:
                outcome.reject(err.reason, f"{item.id}/{name}: {err.detail}")
                continue
            outcome.pairs.append({"id": f"{item.id}-{name}", "prompt": prompt, "chosen": chosen, "rejected": rejected,
                                  **media, "kind": "selfalign", "source": f"selfalign:{name}"})
        return outcome

    def _variants(self, item: WorkItem, record: dict) -> list[tuple[str, list, Any]]:
        """(perturbation, images, frames) for every perturbation that applies to the record's media."""
        cfg, rng = self.config, self.rng(item)
        try:
            if record.get("video"):
                path = resolve_media_path(record["video"], cfg.media_root, source=item.source, record_id=item.id)
                frames = load_video(path, num_frames=cfg.num_frames, source=item.source, record_id=item.id).frames
                return [(n, [], perturb_video(frames, n, rng, self.options)) for n in cfg.perturbations if n in VIDEO]
            paths = _images(record)
            if not paths:
                raise DataError("no video or image", source=item.source, record_id=item.id)
            images = [load_image(resolve_media_path(p, cfg.media_root, source=item.source, record_id=item.id),
                                 source=item.source, record_id=item.id) for p in paths]
        except DataError as err:
            logger.warning("%s; skipped", err)
            raise Rejected("unreadable_media", str(err)) from None
        return [(n, [perturb_image(im, n, rng, self.options) for im in images], None)
                for n in cfg.perturbations if n in IMAGE]

    async def _wrong(self, question: str, answer: str, prediction: str, kind: str, options: list[str]) -> bool:
        if kind != "open":
            return not is_correct(prediction, answer, kind, options, self.vocabulary)
        correct, _ = await self.llm.ask(judge_messages(question, answer, prediction), parse_judgement)
        return not correct

    async def _truth(self, answer: str, prediction: str, kind: str, options: list[str]) -> str:
        if kind != "open":
            truth = aligned_truth(prediction, answer, kind, options, self.vocabulary)
            if truth is None:
                raise Rejected("no_truth_object", "a hallucinated object has no truth object left to take its place "
                                                      "and is not a list item that can be left out")
            return truth
        differences, conversation = await self.llm.ask(differences_messages(answer, prediction), parse_differences)
        if not differences:
            raise Rejected("no_difference", "the LLM finds no difference")
        rewritten, _ = await self.llm.ask(conversation + [{"role": "user", "content": REWRITE}], parse_rewrite)
        return rewritten

    def _tag(self, truth: str, prediction: str, kind: str) -> tuple[str, str]:
        chosen_spans, rejected_spans = diff_spans(truth, prediction)
        if not chosen_spans:
            raise Rejected("no_difference", "the aligned ground truth has the words of the answer")
        share = max(differing_share(truth, chosen_spans), differing_share(prediction, rejected_spans))
        # closed-form answers are short: all may differ (object lists are long)
        if kind in ("open", "objects") and share > self.config.max_diff_share:
            raise Rejected("too_different", f"{share:.0%} of the words differ")
        return tag_text(truth, chosen_spans), tag_text(prediction, rejected_spans)


def _options(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value)]
    return [str(v) for v in value] if isinstance(value, list) else []


def _images(record: dict) -> list[str]:
    images = record.get("images", record.get("image"))
    return [] if not images else [images] if isinstance(images, str) else list(images)


def _prompt(question: str, options: list[str], kind: str) -> str:
    lines = [question]
    if kind == "mc":
        lines += [f"{LETTERS[i]}. {option}" for i, option in enumerate(options)]
    if kind in HINTS:
        lines.append(HINTS[kind])
    return "\n".join(lines)
