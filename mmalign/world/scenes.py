"""Scenes of the world: which objects, with which attributes, where; their captions and images.

Most scenes show the complete usual company of one scene group (all its members); a configurable
share is *unusual*: a usual member is ``missing``, or ``swapped`` for a member of another group. A
model trained on such captions learns that the members go together, which is what makes it name an
absent member on unusual scenes (co-occurrence hallucination).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .render import render_scene
from .vocab import CATEGORIES, COLOURS, GROUPS, SIZES, position_word

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

UNUSUAL_KINDS = ("missing", "swapped")
CAPTION_ORDERS = ("group", "position", "random")
CAPTION_OPENINGS = ("scene", "shows")
CAPTION_PROMPT = "Describe the image."


@dataclass(frozen=True)
class WorldConfig:
    """How scenes are drawn and described.

    Attributes:
        grid: cells per side; one object per cell.
        cell_px: pixels per cell side; the image is ``grid * cell_px`` pixels a side.
        unusual_share: share of unusual scenes among those drawn without saying which (the
            training and reference splits); 1 minus this is the group strength.
        swap_share: among unusual scenes, the share of ``swapped`` ones (the rest are ``missing``).
        caption_order: ``"group"``: usual members in their group's fixed order, then intruders;
            ``"position"``: objects in reading order of their cells; ``"random"``: an order drawn
            with the scene (the order of ``Scene.objects``).
        caption_colours: name each object's colour in captions (``"a red cup"``).
        caption_opening: ``"shows"``: captions open with ``"The image shows …"``, the wording of
            the pair pipeline's template descriptions; ``"scene"``: with the group's scene
            (``"A kitchen table with …"``).
    """

    grid: int = 4
    cell_px: int = 8
    unusual_share: float = 0.15
    swap_share: float = 0.5
    caption_order: str = "random"
    caption_colours: bool = False
    caption_opening: str = "shows"

    def __post_init__(self) -> None:
        if self.grid * self.grid < max(len(m) for _, m in GROUPS.values()) + 1:
            raise ValueError(f"grid={self.grid} has too few cells for a scene")
        if not 0.0 <= self.unusual_share <= 1.0 or not 0.0 <= self.swap_share <= 1.0:
            raise ValueError("unusual_share and swap_share must lie in [0, 1]")
        if self.caption_order not in CAPTION_ORDERS:
            raise ValueError(f"caption_order must be one of {CAPTION_ORDERS}, got {self.caption_order!r}")
        if self.caption_opening not in CAPTION_OPENINGS:
            raise ValueError(f"caption_opening must be one of {CAPTION_OPENINGS}, got {self.caption_opening!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SceneObject:
    """One object: category, colour and size attributes, and its cell (row, col) on the grid."""

    category: str
    colour: str
    size: str
    row: int
    col: int


@dataclass(frozen=True)
class Scene:
    """A scene of group ``group``; ``kind`` is ``"usual"``, ``"missing"`` or ``"swapped"``.

    ``absent`` lists the group's usual members that the scene does not show (empty when usual).
    """

    group: str
    kind: str
    objects: tuple[SceneObject, ...]
    absent: tuple[str, ...] = field(default=())

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(o.category for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "kind": self.kind, "absent": list(self.absent),
                "objects": [asdict(o) for o in self.objects]}


class World:
    """The procedural world: samples, draws and describes scenes, deterministically per seed.

    ``World(seed)`` fixes the streams of :meth:`scenes`; :meth:`sample_scene` draws from any
    ``random.Random`` you pass. The vocabulary (:data:`~mmalign.world.vocab.CATEGORIES`) is fixed.
    """

    def __init__(self, seed: int = 0, config: WorldConfig | None = None):
        self.seed = int(seed)
        self.config = config or WorldConfig()
        self.groups = {name: members for name, (_, members) in GROUPS.items()}
        self.categories = list(CATEGORIES)

    # -- sampling -----------------------------------------------------------------------------

    def rng(self, stream: str) -> random.Random:
        """A generator for the named stream (e.g. a split): independent of every other stream."""
        return random.Random(f"mmalign-world:{self.seed}:{stream}")

    def sample_scene(self, rng: random.Random, unusual: bool | None = None, kind: str | None = None) -> Scene:
        """Draw one scene. ``unusual=None`` draws usual vs unusual with ``config.unusual_share``;
        ``kind`` forces ``"usual"``, ``"missing"`` or ``"swapped"``."""
        cfg = self.config
        if kind is None:
            if unusual is None:
                unusual = rng.random() < cfg.unusual_share
            kind = ("swapped" if rng.random() < cfg.swap_share else "missing") if unusual else "usual"
        if kind not in ("usual", *UNUSUAL_KINDS):
            raise ValueError(f"unknown scene kind {kind!r}")
        group = rng.choice(sorted(self.groups))
        names = list(self.groups[group])
        absent: tuple[str, ...] = ()
        if kind != "usual":
            dropped = rng.choice(names)
            absent = (dropped,)
            names.remove(dropped)
            if kind == "swapped":
                others = [c for g, m in sorted(self.groups.items()) if g != group for c in m]
                names.append(rng.choice(others))
        if cfg.caption_order == "random":
            rng.shuffle(names)
        cells = rng.sample(range(cfg.grid * cfg.grid), len(names))
        objects = tuple(
            SceneObject(name, rng.choice(list(COLOURS)), rng.choice(SIZES), cell // cfg.grid, cell % cfg.grid)
            for name, cell in zip(names, cells)
        )
        return Scene(group, kind, objects, absent)

    def scenes(self, stream: str, count: int, unusual: bool | None = None) -> list[Scene]:
        """``count`` scenes of the named stream; the same for the same seed, stream and count
        (and a longer list starts with the shorter one)."""
        rng = self.rng(stream)
        return [self.sample_scene(rng, unusual) for _ in range(count)]

    # -- rendering and language ---------------------------------------------------------------

    def render(self, scene: Scene) -> Image.Image:
        """The scene as an RGB image, ``grid * cell_px`` pixels a side."""
        return render_scene(scene, self.config.grid, self.config.cell_px)

    @property
    def image_size(self) -> int:
        return self.config.grid * self.config.cell_px

    def ordered(self, scene: Scene) -> list[SceneObject]:
        """The scene's objects in caption order (see :class:`WorldConfig`)."""
        if self.config.caption_order == "random":
            return list(scene.objects)
        if self.config.caption_order == "position":
            return sorted(scene.objects, key=lambda o: (o.row, o.col))
        members = self.groups[scene.group]
        rank = {name: i for i, name in enumerate(members)}
        index = {name: i for i, name in enumerate(self.categories)}
        return sorted(scene.objects, key=lambda o: (rank.get(o.category, len(members)), index[o.category]))

    def describe_object(self, obj: SceneObject, colour: bool | None = None) -> str:
        """``"a red cup"`` (or ``"a cup"`` without the colour)."""
        colour = self.config.caption_colours if colour is None else colour
        return _with_article(f"{obj.colour} {obj.category}" if colour else obj.category)

    def caption(self, scene: Scene) -> str:
        """The scene's caption, e.g. ``"The image shows a red cup, a blue plate and a green fork."``."""
        parts = [self.describe_object(o) for o in self.ordered(scene)]
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        if self.config.caption_opening == "shows":
            return f"The image shows {listed}."
        return f"{GROUPS[scene.group][0]} with {listed}."

    def region_phrase(self, obj: SceneObject) -> str:
        """A region description in Visual Genome's style: ``"a small red cup in the top left"``."""
        where = position_word(obj.row, obj.col, self.config.grid)
        return _with_article(f"{obj.size} {obj.colour} {obj.category}") + f" in the {where}"

    def synonyms(self) -> dict[str, list[str]]:
        """Category name → every surface word naming it (singular, plural, synonyms)."""
        return {name: list(CATEGORIES[name].words) for name in self.categories}

    def corpus(self) -> list[str]:
        """Text covering every word the world writes, for training a tokenizer."""
        lines = [CAPTION_PROMPT, "The image shows"]
        for opening, members in GROUPS.values():
            lines.append(f"{opening} with " + ", ".join(_with_article(m) for m in members) + ".")
        for name, category in CATEGORIES.items():
            for colour in COLOURS:
                for size in SIZES:
                    lines.append(_with_article(f"{size} {colour} {name}") + f" and {' '.join(category.words)}.")
        return lines


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase
