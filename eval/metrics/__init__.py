"""Benchmark metrics as plain functions (percentages, as the papers report them).

``chair(captions, instances, coco_captions=None)``, ``pope(predictions, labels)`` and
``vcr_order(predicted_orders, true_orders)`` are the public entry points; the AMBER, MME and
MMHal-Bench scores are here too.
"""

from .amber import amber_discriminative, amber_generative
from .chair import caption_objects, chair
from .common import accuracy_by_group
from .mme import mme
from .mmhal import mmhal
from .pope import pope
from .vcr import vcr_order

__all__ = [
    "accuracy_by_group",
    "amber_discriminative",
    "amber_generative",
    "caption_objects",
    "chair",
    "mme",
    "mmhal",
    "pope",
    "vcr_order",
]
