"""DPA's generative data augmentation (HALVA): correct/hallucinated description pairs per image,
plus yes/no pairs, from Visual Genome or COCO annotations.

Per image: a correct response with its concepts tagged (templates with ``llm=none``, else written
by the LLM from the annotations and checked against them); a *closed-set* hallucinated response
replacing every tagged concept by a co-occurring one absent from the image
(:mod:`mmalign.data_gen.cooccur`); an *open-set* one whose replacements an LLM proposes, each kept only if
absent from the image and different from the original. Per yes/no question: y⁻ is y⁺ inverted.
Kind ``caption`` takes one of the image's reference captions (COCO ``captions_*.json``) as the
correct response (:mod:`mmalign.data_gen.captions`) and replaces ``caption_replacements`` of its object
mentions, drawn at random, by co-occurring absent objects.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mmalign.errors import ConfigError

from .backends import Rejected
from .captions import caption_segments, mention_as
from .concepts import Concept, Segment, count_phrase, render, restyle
from .cooccur import MAX_COUNT, ConceptIndex, Presence
from .pipeline import Outcome, Pipeline, WorkItem
from .prompts import (
    describe_messages,
    description_parser,
    open_set_messages,
    replacements_parser,
)
from .qa import YesNoQuestion, balance, read_qa_file, read_vg_qa
from .scene import POSITIONS, Scene
from .templates import describe
from .vocab import ARTICLES, NUMBER_WORDS, clean, read_aliases, singular

logger = logging.getLogger("mmalign.data_gen")
KINDS = ("closed", "open", "qa", "caption")
# Words an LLM may put in a tag beside a concept without naming anything (checked for grounding).
_FILLER = set(ARTICLES) | set(NUMBER_WORDS) | {"side", "part", "of", "on", "in", "at", "and", "with", "to",
                                               "is", "are", "top", "bottom", "middle", *POSITIONS}


class HalvaPipeline(Pipeline):
    name = "halva"

    def plan(self) -> list[WorkItem]:
        cfg = self.config
        unknown = sorted(set(cfg.kinds) - set(KINDS))
        if unknown:
            raise ConfigError(f"unknown kinds {unknown}; expected some of {', '.join(KINDS)}")
        if not cfg.vg_dir and not cfg.coco_instances:
            raise ConfigError("the halva pipeline needs vg_dir=DIR (Visual Genome) or coco_instances=FILE (COCO)")
        if "open" in cfg.kinds and cfg.llm == "none":
            logger.info("open-set pairs need an LLM; with llm=none only closed-set and yes/no pairs are made")
        datasets: list[tuple[str, dict[str, Scene]]] = []
        if cfg.vg_dir:
            from .vg import read_vg

            files = list(cfg.vg_files)
            if cfg.llm == "none" and "region_descriptions" in files:  # only an LLM reads them
                files.remove("region_descriptions")
            if "qa" not in cfg.kinds and "question_answers" in files:  # only yes/no pairs read them
                files.remove("question_answers")
            datasets.append(("vg", read_vg(cfg.vg_dir, files, self.stats.problem)))
        if cfg.coco_instances:
            from .coco import read_coco

            datasets.append(("coco", read_coco(cfg.coco_instances, cfg.coco_captions, self.stats.problem)))
        aliases = read_aliases(cfg.aliases_file) if cfg.aliases_file else None
        self.index = ConceptIndex((s for _, scenes in datasets for s in scenes.values()), aliases, cfg.min_cooccurrence)
        if "caption" in cfg.kinds and not cfg.coco_captions:
            raise ConfigError("kind 'caption' needs reference captions: set coco_captions=FILE (COCO captions_*.json)")
        items = []
        if {"closed", "caption"} & set(cfg.kinds) or "open" in cfg.kinds and cfg.llm != "none":
            for prefix, scenes in datasets:
                items += [WorkItem(f"{prefix}-{s.image_id}", (prefix, s), s.source) for s in scenes.values()]
        if "qa" in cfg.kinds:
            items += [WorkItem(q.id, q, q.source) for q in self._questions(datasets)]
        return items

    def _questions(self, datasets: list[tuple[str, dict[str, Scene]]]) -> list[YesNoQuestion]:
        cfg, scenes = self.config, {}
        for _, found in datasets:
            scenes.update(found)
        questions = []
        if cfg.vg_dir and "question_answers" in cfg.vg_files:
            questions += read_vg_qa(cfg.vg_dir, dict(datasets)["vg"], self.stats.problem)
        if cfg.qa_file:
            questions += read_qa_file(cfg.qa_file, scenes, self.stats.problem)
        return balance(questions, cfg.seed, cfg.max_qa)

    async def process(self, item: WorkItem) -> Outcome:
        if isinstance(item.payload, YesNoQuestion):
            return self._yes_no(item, item.payload)
        dataset, scene = item.payload
        if not scene.has_ground_truth():
            logger.warning("%s: record %r: no objects annotated (no ground truth); skipped", scene.source, item.id)
            raise Rejected("no_ground_truth")
        self.check_image(scene.image, item)
        rng = self.rng(item)
        prompt = rng.choice(self.config.prompts)
        presence = self.index.presence(scene)
        outcome = Outcome()
        pair = {"prompt": prompt, "images": [scene.image], "source": "visual_genome" if dataset == "vg" else "coco"}
        if "caption" in self.config.kinds:
            try:
                chosen, rejected = self._caption(scene, presence, rng)
                outcome.pairs.append({"id": f"{item.id}-caption", **pair, "chosen": chosen, "rejected": rejected, "kind": "caption"})
            except Rejected as err:
                outcome.reject(err.reason)
        if not {"closed", "open"} & set(self.config.kinds):
            return outcome
        segments = await self._llm_response(scene) if self.llm else describe(scene, self.index, rng, self.config.max_concepts)
        if not any(isinstance(s, Concept) for s in segments):
            raise Rejected("no_concepts")
        if "closed" in self.config.kinds:
            chosen, rejected = self._closed(segments, presence, rng)
            if chosen:
                outcome.pairs.append({"id": f"{item.id}-closed", **pair, "chosen": chosen, "rejected": rejected, "kind": "closed"})
            else:
                outcome.reject("no_closed_candidate")
        if "open" in self.config.kinds and self.llm:
            try:
                chosen, rejected = await self._open(segments, scene, presence)
                outcome.pairs.append({"id": f"{item.id}-open", **pair, "chosen": chosen, "rejected": rejected, "kind": "open"})
            except Rejected as err:
                outcome.reject(err.reason)
        return outcome

    def _yes_no(self, item: WorkItem, q: YesNoQuestion) -> Outcome:
        self.check_image(q.image, item)
        right, wrong = ("Yes", "No") if q.answer == "yes" else ("No", "Yes")
        return Outcome(pairs=[{
            "id": item.id, "prompt": q.question, "chosen": f"<MASK>{right}</MASK>.", "rejected": f"<MASK>{wrong}</MASK>.",
            "images": [q.image], "kind": "qa", "source": Path(q.source.rsplit(":", 1)[0]).stem,
        }])

    def _closed(self, segments: list[Segment], presence: Presence, rng) -> tuple[str, str]:
        chosen, rejected = {}, {}
        for i, segment in enumerate(segments):
            if isinstance(segment, Concept):
                value = self.index.sample(segment, presence, rng)
                if value is not None:
                    chosen[i] = segment.written()
                    rejected[i] = restyle(segment.written(), segment.kind, value, segment.anchor)
        if not chosen:
            return "", ""
        return render(segments, chosen), render(segments, rejected)

    def _caption(self, scene: Scene, presence: Presence, rng) -> tuple[str, str]:
        """A reference caption and the same caption with some object mentions replaced."""
        if not scene.captions:
            raise Rejected("no_caption")
        for caption in rng.sample(scene.captions, len(scene.captions)):
            segments = caption_segments(caption, self.index, presence)
            options = {}
            for i, segment in enumerate(segments):
                if isinstance(segment, Concept):
                    value = self.index.sample(segment, presence, rng)
                    if value is not None:
                        options[i] = value
            if not options:
                continue
            picked = sorted(rng.sample(sorted(options), min(self.config.caption_replacements, len(options))))
            chosen = {i: segments[i].written() for i in picked}
            rejected = {i: mention_as(segments[i].written(), options[i]) for i in picked}
            return render(segments, chosen), render(segments, rejected)
        raise Rejected("no_caption_candidate")

    async def _llm_response(self, scene: Scene) -> list[Segment]:
        words = self.index.scene_words(scene)

        def grounded(phrase: str) -> bool:
            content = [w for w in clean(phrase).split() if w not in _FILLER]
            return all(w in words or singular(w) in words for w in content)

        (plain, spans), _ = await self.llm.ask(describe_messages(scene), description_parser(grounded))
        segments: list[Segment] = []
        cursor = 0
        for start, end in spans:
            phrase = plain[start:end]
            segments += [plain[cursor:start], self.index.ground(phrase, scene) or Concept("phrase", clean(phrase), "", phrase)]
            cursor = end
        return segments + [plain[cursor:]]

    async def _open(self, segments: list[Segment], scene: Scene, presence: Presence) -> tuple[str, str]:
        concepts = [(i, s) for i, s in enumerate(segments) if isinstance(s, Concept)]
        phrases = [c.written() for _, c in concepts]
        proposals, _ = await self.llm.ask(open_set_messages(scene, phrases), replacements_parser(len(phrases)))
        chosen, rejected = {}, {}
        for (i, concept), proposal in zip(concepts, proposals, strict=True):
            if self._absent(concept, proposal, scene, presence):
                if concept.kind == "object" and proposal.split()[0].lower() not in ARTICLES:
                    proposal = restyle(concept.written(), "object", clean(proposal))  # "unicorn" → "a unicorn"
                chosen[i], rejected[i] = concept.written(), proposal
        if not chosen:
            raise Rejected("no_open_candidate")
        return render(segments, chosen), render(segments, rejected)

    def _absent(self, concept: Concept, proposal: str, scene: Scene, presence: Presence) -> bool:
        """Whether an LLM-proposed replacement differs from the concept and is not in the image."""
        text = clean(proposal)
        if not text or text == clean(concept.written()) or singular(text) == singular(concept.written()):
            return False
        counted = count_phrase(text)
        if counted:
            noun = self.index.objects.canonical(counted[1])
            if self.index.objects.keys(noun) & presence.objects:
                return min(presence.counts.get(noun, 0), MAX_COUNT) != counted[0]
            return True
        if concept.kind == "location":
            position = next((w for w in text.split() if w in POSITIONS), None)
            return position is not None and position not in presence.positions.get(concept.anchor, set())
        if concept.kind == "object" and self.index.objects.keys(text) & presence.objects:
            return False
        words = self.index.scene_words(scene)
        return not any(w in words or singular(w) in words for w in text.split() if w not in _FILLER)
