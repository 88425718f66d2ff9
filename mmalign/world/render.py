"""Drawing scenes with Pillow: one glyph per object, each in its own cell of a square grid.

A glyph is a few Pillow primitives laid out in a unit box, so it draws at any cell size. Cells are
meant to line up with the vision tower's patches (a 4×4 grid on a 32-px, patch-8 tower), so each
object lands in one patch: the tiny vision tower can tell them apart without having to segment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from .vocab import BACKGROUND, COLOURS

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image, ImageDraw

Point = tuple[float, float]
Colour = tuple[int, int, int]


class PlacedObject(Protocol):
    """What drawing needs of an object (:class:`~mmalign.world.scenes.SceneObject` has it)."""

    @property
    def category(self) -> str: ...
    @property
    def colour(self) -> str: ...
    @property
    def size(self) -> str: ...
    @property
    def row(self) -> int: ...
    @property
    def col(self) -> int: ...


class Drawable(Protocol):
    """What drawing needs of a scene (:class:`~mmalign.world.scenes.Scene` has it); scenes import
    this module, so it names them only by their shape."""

    @property
    def objects(self) -> Sequence[PlacedObject]: ...


class _Pen:
    """Maps unit-box coordinates of one glyph to pixels and draws with a fixed colour."""

    def __init__(self, draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], colour: Colour):
        self.draw, self.colour = draw, colour
        self.x0, self.y0 = box[0], box[1]
        self.side = box[2] - box[0]

    def p(self, x: float, y: float) -> Point:
        return (self.x0 + x * self.side, self.y0 + y * self.side)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[Point]:
        return [self.p(x0, y0), self.p(x1, y1)]

    def width(self, share: float) -> int:
        return max(1, round(share * self.side))

    def line(self, *points: Point, w: float = 0.16, fill: Colour | None = None) -> None:
        self.draw.line([self.p(*q) for q in points], fill=fill or self.colour, width=self.width(w))

    def detail(self, *points: Point, w: float = 0.08) -> None:
        """A background-coloured line inside a shape, skipped where the glyph is too small to
        keep it without losing the shape."""
        if self.side >= 7:
            self.line(*points, w=w, fill=BACKGROUND)

    def poly(self, *points: Point, fill: Colour | None = None) -> None:
        self.draw.polygon([self.p(*q) for q in points], fill=fill or self.colour)

    def rect(self, *xy: float, fill: Colour | None = None) -> None:
        self.draw.rectangle(self.box(*xy), fill=fill or self.colour)

    def disc(self, *xy: float, fill: Colour | None = None) -> None:
        self.draw.ellipse(self.box(*xy), fill=fill or self.colour)

    def ring(self, *xy: float, w: float = 0.16) -> None:
        self.draw.ellipse(self.box(*xy), outline=self.colour, width=self.width(w))


def _cup(g: _Pen) -> None:
    g.rect(0.1, 0.25, 0.65, 0.9)
    g.draw.arc(g.box(0.5, 0.35, 0.95, 0.75), 270, 90, fill=g.colour, width=g.width(0.14))


def _plate(g: _Pen) -> None:
    g.ring(0.05, 0.05, 0.95, 0.95, w=0.14)
    g.ring(0.32, 0.32, 0.68, 0.68, w=0.1)


def _fork(g: _Pen) -> None:
    for x in (0.2, 0.5, 0.8):
        g.line((x, 0.05), (x, 0.5), w=0.12)
    g.line((0.15, 0.5), (0.85, 0.5), w=0.14)
    g.line((0.5, 0.5), (0.5, 0.95), w=0.16)


def _bowl(g: _Pen) -> None:
    g.draw.pieslice(g.box(0.05, -0.05, 0.95, 0.85), 0, 180, fill=g.colour)


def _book(g: _Pen) -> None:
    g.rect(0.15, 0.1, 0.85, 0.9)
    for y in (0.35, 0.65):
        g.detail((0.3, y), (0.85, y))


def _pen(g: _Pen) -> None:
    g.line((0.12, 0.88), (0.88, 0.12), w=0.3)


def _lamp(g: _Pen) -> None:
    g.poly((0.3, 0.05), (0.7, 0.05), (0.95, 0.45), (0.05, 0.45))
    g.line((0.5, 0.45), (0.5, 0.9), w=0.12)
    g.line((0.2, 0.92), (0.8, 0.92), w=0.12)


def _clock(g: _Pen) -> None:
    g.ring(0.05, 0.05, 0.95, 0.95, w=0.12)
    g.line((0.5, 0.15), (0.5, 0.5), (0.8, 0.5), w=0.12)


def _flower(g: _Pen) -> None:
    for cx, cy in ((0.5, 0.2), (0.8, 0.5), (0.5, 0.8), (0.2, 0.5)):
        g.disc(cx - 0.18, cy - 0.18, cx + 0.18, cy + 0.18)
    g.disc(0.38, 0.38, 0.62, 0.62, fill=BACKGROUND)


def _tree(g: _Pen) -> None:
    g.poly((0.5, 0.02), (0.08, 0.7), (0.92, 0.7))
    g.rect(0.4, 0.7, 0.6, 0.98)


def _bird(g: _Pen) -> None:
    g.line((0.05, 0.3), (0.5, 0.7), (0.95, 0.3), w=0.25)


def _bee(g: _Pen) -> None:
    g.disc(0.05, 0.2, 0.95, 0.8)
    for x in (0.35, 0.62):
        g.detail((x, 0.2), (x, 0.8), w=0.1)


def _ball(g: _Pen) -> None:
    g.disc(0.1, 0.1, 0.9, 0.9)


def _shell(g: _Pen) -> None:
    g.draw.pieslice(g.box(0.05, 0.15, 0.95, 1.05), 180, 360, fill=g.colour)
    for end in ((0.15, 0.35), (0.5, 0.15), (0.85, 0.35)):
        g.detail((0.5, 0.6), end, w=0.06)


def _boat(g: _Pen) -> None:
    g.poly((0.02, 0.62), (0.98, 0.62), (0.75, 0.92), (0.25, 0.92))
    g.poly((0.45, 0.05), (0.45, 0.55), (0.1, 0.55))


def _kite(g: _Pen) -> None:
    g.poly((0.55, 0.02), (0.9, 0.35), (0.55, 0.68), (0.2, 0.35))
    g.line((0.55, 0.68), (0.35, 0.85), (0.5, 0.98), w=0.06)


GLYPHS: dict[str, Callable[[_Pen], None]] = {
    "cup": _cup, "plate": _plate, "fork": _fork, "bowl": _bowl,
    "book": _book, "pen": _pen, "lamp": _lamp, "clock": _clock,
    "flower": _flower, "tree": _tree, "bird": _bird, "bee": _bee,
    "ball": _ball, "shell": _shell, "boat": _boat, "kite": _kite,
}  # fmt: skip

#: Share of the cell a glyph's box takes, per size attribute.
SIZE_SCALE = {"small": 0.75, "large": 0.96}


def object_box(row: int, col: int, size: str, cell: int) -> tuple[int, int, int, int]:
    """Integer pixel box ``(x, y, w, h)`` of an object drawn in cell (row, col), centred."""
    side = round(cell * SIZE_SCALE[size])
    offset = (cell - side) // 2
    return (col * cell + offset, row * cell + offset, side, side)


def render_scene(scene: Drawable, grid: int, cell: int) -> Image.Image:
    """Draw ``scene`` as an RGB image of ``grid * cell`` pixels a side."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (grid * cell, grid * cell), BACKGROUND)
    for obj in scene.objects:
        x, y, w, h = object_box(obj.row, obj.col, obj.size, cell)
        # Drawn on its own tile, so thick strokes never spill out of the object's box.
        tile = Image.new("RGB", (w, h), BACKGROUND)
        GLYPHS[obj.category](_Pen(ImageDraw.Draw(tile), (0, 0, w - 1, h - 1), COLOURS[obj.colour]))
        image.paste(tile, (x, y))
    return image
