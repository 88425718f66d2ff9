"""The LLM prompts of the pipelines and the parsers that validate their replies.

Every parser raises :class:`~mmalign.data_gen.backends.InvalidReply` with a short reason, which is sent
back to the model when it is asked again.
"""

from __future__ import annotations

from collections.abc import Callable

from mmalign.data.tags import TagError, parse_tags

from .backends import InvalidReply, Messages, parse_json_object
from .scene import Scene

# ---------------------------------------------------------------------------------------------
# halva: descriptions and open-set replacements


def describe_messages(scene: Scene, max_items: int = 40) -> Messages:
    objects = []
    for obj in scene.objects[:max_items]:
        position = scene.position(obj)
        details = ", ".join(obj.attributes + ([f"{position} side" if position != "center" else "center"] if position else []))
        objects.append(f"{obj.name} ({details})" if details else obj.name)
    lines = ["Annotations of an image:", "Objects: " + "; ".join(objects)]
    if scene.relations:
        lines.append("Relations: " + "; ".join(f"{r.subject} {r.predicate} {r.object}" for r in scene.relations[:max_items]))
    if scene.regions:
        lines.append("Region descriptions: " + "; ".join(scene.regions[:max_items]))
    if scene.captions:
        lines.append("Captions: " + " ".join(scene.captions[:5]))
    lines.append(
        "Write a detailed description of the image in 3 to 6 sentences that states only what these "
        "annotations support. Wrap every object, attribute, count, action and location you mention in "
        "<MASK> and </MASK>, one concept per tag, for example: A <MASK>brown</MASK> <MASK>dog</MASK> "
        "lies on the <MASK>left side</MASK>. Reply with the description only."
    )
    return [{"role": "user", "content": "\n".join(lines)}]


def description_parser(is_grounded: Callable[[str], bool]) -> Callable[[str], tuple[str, list]]:
    """Parser of a tagged description: well-formed tags, at least one, every tagged phrase grounded."""

    def parse(reply: str) -> tuple[str, list]:
        try:
            plain, spans = parse_tags(reply.strip())
        except TagError as err:
            raise InvalidReply(f"the <MASK> tags are malformed ({err})") from None
        if not spans:
            raise InvalidReply("no concept is wrapped in <MASK> and </MASK>")
        ungrounded = [plain[s:e] for s, e in spans if not is_grounded(plain[s:e])]
        if ungrounded:
            raise InvalidReply("these tagged phrases are not in the annotations: " + ", ".join(repr(p) for p in ungrounded))
        return plain, spans

    return parse


def open_set_messages(scene: Scene, phrases: list[str]) -> Messages:
    listed = "\n".join(f"{i + 1}. {p}" for i, p in enumerate(phrases))
    present = "; ".join(sorted({o.name for o in scene.objects}))
    return [{"role": "user", "content": (
        f"An image contains only these objects: {present}.\nA description of it mentions these concepts:\n{listed}\n"
        "For each concept, propose a replacement of the same kind (an object for an object, a colour for a "
        "colour, a number and object for a count, an action for an action, a location for a location) that "
        "is plausible in such a scene but is NOT in the image. Reply with JSON only: "
        f'{{"replacements": [...]}} holding exactly {len(phrases)} strings, in the order above.'
    )}]


def replacements_parser(n: int) -> Callable[[str], list[str]]:
    def parse(reply: str) -> list[str]:
        values = parse_json_object(reply).get("replacements")
        if not isinstance(values, list) or len(values) != n:
            raise InvalidReply(f'"replacements" must be a list of exactly {n} strings')
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise InvalidReply('every replacement must be a non-empty string')
        return [v.strip() for v in values]

    return parse


# ---------------------------------------------------------------------------------------------
# selfalign: judging open-ended answers and the two-turn rewrite


def judge_messages(question: str, answer: str, prediction: str) -> Messages:
    return [{"role": "user", "content": (
        f"Question: {question}\nCorrect answer: {answer}\nPredicted answer: {prediction}\n"
        "Is the predicted answer correct, i.e. does it agree with the correct answer on every fact? "
        'Reply with JSON only: {"correct": true} or {"correct": false}.'
    )}]


def parse_judgement(reply: str) -> bool:
    value = parse_json_object(reply).get("correct")
    if not isinstance(value, bool):
        raise InvalidReply('"correct" must be true or false')
    return value


def differences_messages(answer: str, prediction: str) -> Messages:
    return [{"role": "user", "content": (
        f"Sentence 1 (ground truth): {answer}\nSentence 2 (a model's answer): {prediction}\n"
        "Identify the key differences between sentence 1 and sentence 2: objects, actions, attributes, "
        "counts, locations, order of events. Reply with JSON only: "
        '{"differences": [{"sentence1": "...", "sentence2": "..."}, ...]}, or {"differences": []} if there are none.'
    )}]


def parse_differences(reply: str) -> list[dict]:
    value = parse_json_object(reply).get("differences")
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise InvalidReply('"differences" must be a list of objects')
    return value


REWRITE = (
    "Now rewrite sentence 1 so that it follows the wording and structure of sentence 2 word for word, "
    "except for those differences, where it keeps the facts of sentence 1. Reply with JSON only: "
    '{"rewritten": "..."}.'
)


def parse_rewrite(reply: str) -> str:
    value = parse_json_object(reply).get("rewritten")
    if not isinstance(value, str) or not value.strip():
        raise InvalidReply('"rewritten" must be a non-empty string')
    return value.strip()
