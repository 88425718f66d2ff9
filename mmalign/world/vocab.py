"""The world's fixed vocabulary: object categories in scene groups, their words, and attributes.

Each category belongs to one scene group (its *usual* company) and has a glyph, the distinctive
shape :mod:`mmalign.world.render` draws for it. Surface words (singular, plural, synonyms) are
listed here rather than inflected by a library: the vocabulary is small and closed (every plural
is regular), and an evaluator needs exactly the words the captions can contain.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One object category: its caption name, plural, other words for it, group and VG synset."""

    name: str
    plural: str
    group: str
    synonyms: tuple[str, ...] = ()

    @property
    def words(self) -> tuple[str, ...]:
        """Every surface word that names this category (singular and plural forms)."""
        return (self.name, self.plural, *self.synonyms)

    @property
    def synset(self) -> str:
        return f"{self.name}.n.01"


#: Scene groups: name, the phrase that opens a "scene" caption, and the usual members (in the
#: order of the "group" caption order).
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "kitchen": ("A kitchen table", ("cup", "plate", "fork", "bowl")),
    "desk": ("An office desk", ("book", "pen", "lamp", "clock")),
    "garden": ("A garden", ("flower", "tree", "bird", "bee")),
    "beach": ("A beach", ("ball", "shell", "boat", "kite")),
}

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "cup": ("mug", "mugs"),
    "flower": ("blossom", "blossoms"),
    "shell": ("seashell", "seashells"),
    "boat": ("sailboat", "sailboats"),
}

CATEGORIES: dict[str, Category] = {
    name: Category(name, name + "s", group, _SYNONYMS.get(name, ()))
    for group, (_, members) in GROUPS.items()
    for name in members
}

#: Colour attribute: word and RGB. The background is a light neutral that no colour is close to.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (30, 150, 50),
    "blue": (35, 70, 215),
    "yellow": (235, 200, 20),
    "purple": (140, 50, 180),
    "black": (20, 20, 20),
}
BACKGROUND = (226, 222, 210)
SIZES = ("small", "large")


def position_word(row: int, col: int, grid: int) -> str:
    """``"top left"``, ``"bottom right"``…: the quadrant of a grid cell (halves of the grid)."""
    vertical = "top" if row < grid / 2 else "bottom"
    horizontal = "left" if col < grid / 2 else "right"
    return f"{vertical} {horizontal}"
