"""Correct responses written from annotations without an LLM: one short sentence per concept.

Facts are drawn round-robin over the concept kinds (objects and counts, attributes, locations,
relations) so a response mixes them, at most ``max_concepts``, then put in a fixed reading order.
"""

from __future__ import annotations

import random
from collections import defaultdict

from .concepts import Concept, Segment
from .cooccur import MAX_COUNT, ConceptIndex
from .scene import Scene
from .vocab import counted

KIND_ORDER = ("object", "count", "attribute", "location", "relation")


def scene_facts(scene: Scene, index: ConceptIndex) -> list[tuple[str, list[Segment]]]:
    """Every fact the templates can state about ``scene``: (kind, sentence segments)."""
    groups = defaultdict(list)
    for obj in scene.objects:
        groups[index.objects.canonical(obj.name)].append(obj)
    facts: list[tuple[str, list[Segment]]] = []
    for name, objs in sorted(groups.items()):
        n = len(objs)
        if n == 1:
            facts.append(("object", ["The image shows ", Concept("object", name), "."]))
        elif n <= MAX_COUNT:
            facts.append(("count", ["The image shows ", Concept("count", str(n), name, counted(n, name)), "."]))
        subject = name if n == 1 else counted(n, name)
        verb = "is" if n == 1 else "are"
        for attribute in sorted({index.attributes.canonical(a) for o in objs for a in o.attributes}):
            facts.append(("attribute", [f"The {subject} {verb} ", Concept("attribute", attribute, name), "."]))
        position = scene.position(objs[0]) if n == 1 else None
        if position:
            facts.append(("location", [f"The {name} is at the ", Concept("location", position, name), " of the image."]))
    seen = set()
    for rel in scene.relations:
        subject, obj = index.objects.canonical(rel.subject), index.objects.canonical(rel.object)
        predicate = index.predicates.canonical(rel.predicate)
        if (subject, predicate, obj) in seen or not predicate:
            continue
        seen.add((subject, predicate, obj))
        facts.append(("relation", [f"The {subject} is ", Concept("relation", predicate, subject), f" the {obj}."]))
    return facts


def describe(scene: Scene, index: ConceptIndex, rng: random.Random, max_concepts: int) -> list[Segment]:
    """A tagged-concept response of at most ``max_concepts`` sentences."""
    by_kind: dict[str, list[list[Segment]]] = defaultdict(list)
    for kind, segments in scene_facts(scene, index):
        by_kind["object" if kind == "count" else kind].append(segments)
    for facts in by_kind.values():
        rng.shuffle(facts)
    chosen: list[tuple[int, list[Segment]]] = []
    kinds = [k for k in ("object", "attribute", "location", "relation") if by_kind[k]]
    while len(chosen) < max_concepts and any(by_kind[k] for k in kinds):
        for rank, kind in enumerate(kinds):
            if by_kind[kind] and len(chosen) < max_concepts:
                chosen.append((rank, by_kind[kind].pop()))
    chosen.sort(key=lambda pair: pair[0])  # objects first, then what is said about them
    objects = [segments[1] for rank, segments in chosen if rank == 0 and kinds[0] == "object"]
    sentences = [segments for rank, segments in chosen if not (rank == 0 and kinds[0] == "object")]
    out: list[Segment] = []
    if objects:  # "The image shows a man, a horse and two dogs."
        out.append("The image shows ")
        for i, concept in enumerate(objects):
            out += ([", " if i < len(objects) - 1 else " and "] if i else []) + [concept]
        out.append(".")
    for segments in sentences:
        out += ([" "] if out else []) + segments
    return out
