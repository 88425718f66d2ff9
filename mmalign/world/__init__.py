"""A procedural image world with a strong co-occurrence bias, written in Visual Genome and COCO format.

Objects of a fixed vocabulary come in scene groups (a kitchen table shows a cup, a plate, a fork
and a bowl); most scenes show a group's complete company, a controllable share are unusual (a
member missing, or swapped for one of another group). A captioning model trained on the world
learns that members go together and, like LLaVA on COCO, names the absent member of unusual
scenes. Everything is drawn with Pillow from a seed; nothing is downloaded.

The package is the embedded experiment (``recipe=tiny``) whole: the world (``vocab``, ``scenes``,
``render``, ``formats``, ``writer``), its base model (``base_model``), the ``world://`` assets that
training names (``assets``, reached from the core through :func:`mmalign.builtin.resolve_builtins`)
and the base-versus-aligned comparison after training (``comparison``). Nothing in the core
imports it otherwise.

>>> from mmalign.world import World, write_world
>>> world = World(seed=0)
>>> scene = world.sample_scene(world.rng("demo"), unusual=True)
>>> image, caption = world.render(scene), world.caption(scene)
>>> paths = write_world("data/world", seed=0)   # images, VG, COCO, captions, references
"""

from .scenes import (
    CAPTION_PROMPT,
    UNUSUAL_KINDS,
    Scene,
    SceneObject,
    World,
    WorldConfig,
)
from .vocab import CATEGORIES, COLOURS, GROUPS, SIZES, Category
from .writer import SPLITS, WorldPaths, place, write_world

__all__ = [
    "CAPTION_PROMPT",
    "CATEGORIES",
    "COLOURS",
    "GROUPS",
    "SIZES",
    "SPLITS",
    "UNUSUAL_KINDS",
    "Category",
    "Scene",
    "SceneObject",
    "World",
    "WorldConfig",
    "WorldPaths",
    "place",
    "write_world",
]
