"""One image's annotations, whatever dataset they come from (Visual Genome, COCO)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: horizontal thirds of the image, the location concept of the templates
POSITIONS = ("left", "center", "right")


@dataclass(slots=True)
class SceneObject:
    name: str
    box: tuple[float, float, float, float] | None = None  # x, y, w, h in pixels
    attributes: list[str] = field(default_factory=list)
    synsets: tuple[str, ...] = ()


@dataclass(slots=True)
class Relation:
    subject: str
    predicate: str
    object: str


@dataclass(slots=True)
class Scene:
    """Annotations of one image. ``image`` is the path relative to ``media_root``; ``source`` names
    the file (and record) the image came from, for error messages."""

    image_id: str
    image: str
    source: str
    width: float = 0.0
    height: float = 0.0
    objects: list[SceneObject] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)

    def has_ground_truth(self) -> bool:
        return bool(self.objects)

    def position(self, obj: SceneObject) -> str | None:
        """``left``/``center``/``right`` from the box centre, or None without a box or image width."""
        if obj.box is None or self.width <= 0:
            return None
        x, _, w, _ = obj.box
        third = int(3 * (x + w / 2) / self.width)
        return POSITIONS[min(max(third, 0), 2)]
