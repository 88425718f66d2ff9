"""Closed-set hallucinations: co-occurrence statistics over a whole annotation set.

For each concept kind, counts of what goes together across all images:

``object``    object B for object A: the number of images annotating both
``attribute`` attribute b for object o: how often o carries b
``count``     count m for object o: the number of images with exactly m instances of o
``location``  position p for object o: how often an instance of o lies in that third of the image
``relation``  predicate q for subject s: how often s is the subject of q

A replacement for a concept of an image is drawn from these candidates, weighted by the counts,
leaving out everything present in that image (synonyms and plural forms included, see
:mod:`mmalign.data_gen.vocab`) and candidates seen fewer than ``min_count`` times. A candidate can only
have co-occurred in *other* images, since anything in this image is present.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from .concepts import Concept
from .scene import Scene
from .vocab import Vocabulary, clean

MAX_COUNT = 10  # counts above this are not told apart


@dataclass
class Presence:
    """What an image holds, as vocabulary keys (so synonyms and plurals match)."""

    objects: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    predicates: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)  # canonical object → instances
    positions: dict[str, set[str]] = field(default_factory=dict)  # canonical object → positions


class ConceptIndex:
    """Vocabularies and co-occurrence statistics of a set of scenes."""

    def __init__(self, scenes: Iterable[Scene], aliases: dict[str, str] | None = None, min_count: int = 1):
        self.objects = Vocabulary(aliases, nouns=True)
        self.attributes = Vocabulary(nouns=False)
        self.predicates = Vocabulary(nouns=False)
        self.min_count = min_count
        self.stats: dict[str, dict[str, Counter]] = {
            kind: defaultdict(Counter) for kind in ("object", "attribute", "count", "location", "relation")
        }
        scenes = list(scenes)
        for scene in scenes:  # synonyms first: presence below needs them all
            for obj in scene.objects:
                self.objects.learn(obj.name, obj.synsets)
        for scene in scenes:
            self._count(scene)

    def _count(self, scene: Scene) -> None:
        names = sorted({self.objects.canonical(o.name) for o in scene.objects})
        for a in names:
            for b in names:
                if a != b:
                    self.stats["object"][a][b] += 1
        counts = Counter(self.objects.canonical(o.name) for o in scene.objects)
        for name, n in counts.items():
            self.stats["count"][name][str(min(n, MAX_COUNT))] += 1
        for obj in scene.objects:
            name = self.objects.canonical(obj.name)
            for attribute in obj.attributes:
                self.stats["attribute"][name][self.attributes.canonical(attribute)] += 1
            position = scene.position(obj)
            if position:
                self.stats["location"][name][position] += 1
        for rel in scene.relations:
            subject = self.objects.canonical(rel.subject)
            self.stats["relation"][subject][self.predicates.canonical(rel.predicate)] += 1

    def presence(self, scene: Scene) -> Presence:
        p = Presence()
        for obj in scene.objects:
            name = self.objects.canonical(obj.name)
            p.objects |= self.objects.keys(obj.name)
            p.counts[name] = p.counts.get(name, 0) + 1
            for attribute in obj.attributes:
                p.attributes |= self.attributes.keys(attribute)
            position = scene.position(obj)
            if position:
                p.positions.setdefault(name, set()).add(position)
        for rel in scene.relations:
            p.predicates |= self.predicates.keys(rel.predicate)
        return p

    def is_present(self, concept: Concept, value: str, presence: Presence) -> bool:
        """Whether ``value``, as a replacement of ``concept``, is in the image."""
        anchor = self.objects.canonical(concept.anchor) if concept.anchor else ""
        if concept.kind == "object":
            return bool(self.objects.keys(value) & presence.objects)
        if concept.kind == "attribute":
            return bool(self.attributes.keys(value) & presence.attributes)
        if concept.kind == "relation":
            return bool(self.predicates.keys(value) & presence.predicates)
        if concept.kind == "count":
            return min(presence.counts.get(anchor, 0), MAX_COUNT) == int(value)
        if concept.kind == "location":
            return value in presence.positions.get(anchor, set())
        return False

    def candidates(self, concept: Concept, presence: Presence) -> dict[str, int]:
        """Replacement candidates of ``concept`` with their co-occurrence counts."""
        if concept.kind not in self.stats:
            return {}
        vocab = {"object": self.objects, "attribute": self.attributes, "relation": self.predicates}.get(concept.kind)
        key = concept.value if concept.kind == "object" else concept.anchor
        key = self.objects.canonical(key)
        original = vocab.keys(concept.value) if vocab else {concept.value}
        out = {}
        for value, weight in self.stats[concept.kind].get(key, {}).items():
            if weight < self.min_count or self.is_present(concept, value, presence):
                continue
            if vocab and vocab.keys(value) & original or value == concept.value:
                continue
            out[value] = weight
        return out

    def sample(self, concept: Concept, presence: Presence, rng: random.Random) -> str | None:
        """A replacement drawn with probability proportional to its co-occurrence count."""
        options = sorted(self.candidates(concept, presence).items())
        if not options:
            return None
        return rng.choices([v for v, _ in options], weights=[w for _, w in options])[0]

    def ground(self, phrase: str, scene: Scene) -> Concept | None:
        """The concept an LLM-tagged phrase names in ``scene``, or None when it names none."""
        from .concepts import count_phrase

        text = clean(phrase)
        names = {self.objects.canonical(o.name): o for o in scene.objects}
        counted = count_phrase(text)
        if counted and self.objects.canonical(counted[1]) in names:
            return Concept("count", str(min(counted[0], MAX_COUNT)), self.objects.canonical(counted[1]), phrase)
        if self.objects.canonical(text) in names:
            return Concept("object", self.objects.canonical(text), "", phrase)
        for obj in scene.objects:
            if self.attributes.canonical(text) in {self.attributes.canonical(a) for a in obj.attributes}:
                return Concept("attribute", self.attributes.canonical(text), self.objects.canonical(obj.name), phrase)
        for rel in scene.relations:
            if self.predicates.canonical(rel.predicate) == text:
                return Concept("relation", text, self.objects.canonical(rel.subject), phrase)
        return None

    def scene_words(self, scene: Scene) -> set[str]:
        """Every word of every annotated name, attribute and predicate (singular forms too)."""
        words: set[str] = set()
        for obj in scene.objects:
            words |= set(clean(obj.name).split()) | set(self.objects.canonical(obj.name).split())
            for attribute in obj.attributes:
                words |= set(clean(attribute).split())
        for rel in scene.relations:
            words |= set(clean(rel.predicate).split())
        return words
