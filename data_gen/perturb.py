"""Perturbed inputs that surface a model's typical errors (RRPO's self-alignment).

Videos (frames ``(T, H, W, 3)`` uint8): ``shuffle`` (frames in a random order), ``reverse``,
``subsample`` (every ``stride``-th frame), ``mask`` (a random contiguous ``ratio`` of the frames
blacked out). Images: ``crop`` (a random crop keeping ``ratio`` of the area), ``mask`` (a random
rectangle of ``ratio`` of the area greyed out). ``none`` is the original input.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

VIDEO = ("none", "shuffle", "reverse", "subsample", "mask")
IMAGE = ("none", "crop", "mask")


@dataclass(frozen=True)
class PerturbOptions:
    mask_ratio: float = 0.5
    crop_ratio: float = 0.5
    subsample_stride: int = 4


def perturb_video(frames: np.ndarray, name: str, rng: random.Random, options: PerturbOptions) -> np.ndarray:
    n = len(frames)
    if name == "none":
        return frames
    if name == "shuffle":
        order = list(range(n))
        while n > 1 and order == sorted(order):  # a shuffle that keeps the order perturbs nothing
            rng.shuffle(order)
        return frames[order]
    if name == "reverse":
        return frames[::-1].copy()
    if name == "subsample":
        return frames[:: max(1, options.subsample_stride)].copy()
    if name == "mask":
        masked = frames.copy()
        length = max(1, round(n * options.mask_ratio))
        start = rng.randrange(0, n - length + 1)
        masked[start : start + length] = 0
        return masked
    raise ValueError(f"unknown video perturbation {name!r}")


def perturb_image(image: Image.Image, name: str, rng: random.Random, options: PerturbOptions) -> Image.Image:
    if name == "none":
        return image
    w, h = image.size
    side = math.sqrt(options.crop_ratio if name == "crop" else options.mask_ratio)
    bw, bh = max(1, round(w * side)), max(1, round(h * side))
    x, y = rng.randrange(0, w - bw + 1), rng.randrange(0, h - bh + 1)
    if name == "crop":
        return image.crop((x, y, x + bw, y + bh))
    if name == "mask":
        masked = image.copy()
        ImageDraw.Draw(masked).rectangle((x, y, x + bw - 1, y + bh - 1), fill=(128, 128, 128))
        return masked
    raise ValueError(f"unknown image perturbation {name!r}")
