"""Deterministic test media: pictures of one coloured shape, and short videos of it moving.

``make_image(seed)`` draws a picture (``describe_image(seed)`` is its true caption);
``write_video`` encodes a clip with PyAV and ``read_video`` decodes one into a frame array.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = ["describe_image", "make_image", "read_video", "write_video"]

_COLOURS = (
    ("red", (220, 40, 40)),
    ("green", (40, 180, 60)),
    ("blue", (40, 80, 220)),
    ("yellow", (235, 210, 40)),
    ("purple", (150, 60, 190)),
    ("orange", (245, 140, 30)),
    ("white", (245, 245, 245)),
    ("black", (15, 15, 15)),
)
_SHAPES = ("circle", "square", "triangle")


def describe_image(seed: int) -> str:
    """A caption for ``make_image(seed)``, e.g. ``"a red circle on a blue background"``."""
    shape, fg, bg = _image_params(seed)
    return f"a {_COLOURS[fg][0]} {shape} on a {_COLOURS[bg][0]} background"


def _image_params(seed: int) -> tuple[str, int, int]:
    import random

    rng = random.Random(seed)
    shape = rng.choice(_SHAPES)
    fg = rng.randrange(len(_COLOURS))
    bg = (fg + 1 + rng.randrange(len(_COLOURS) - 1)) % len(_COLOURS)
    return shape, fg, bg


def _draw(
    shape: str, fg: tuple[int, int, int], bg: tuple[int, int, int], size: int, cx: float, cy: float, r: float
) -> Image.Image:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=fg)
    elif shape == "square":
        draw.rectangle(box, fill=fg)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    return img


def make_image(seed: int, size: int = 56) -> Image.Image:
    """A deterministic RGB picture: one coloured shape (circle, square or triangle) on a plain
    background of another colour, at a seed-dependent position. See ``describe_image``."""
    import random

    shape, fg, bg = _image_params(seed)
    rng = random.Random(seed * 7919 + 1)
    r = size * (0.18 + 0.12 * rng.random())
    cx = r + (size - 2 * r) * rng.random()
    cy = r + (size - 2 * r) * rng.random()
    return _draw(shape, _COLOURS[fg][1], _COLOURS[bg][1], size, cx, cy, r)


def write_video(
    path: str | Path,
    num_frames: int = 8,
    size: int = 56,
    fps: int = 4,
    seed: int = 0,
    *,
    codec: str = "mpeg4",
) -> Path:
    """Write a small real video: the shape of ``make_image(seed)`` moving left to right.

    Encoded with PyAV (``.mp4`` container; ``codec`` ``"mpeg4"`` by default, ``"libx264"`` also
    works here; both decode with PyAV's bundled ffmpeg), ``yuv420p``, so ``size`` is rounded up to
    an even number. Frames are all key frames so any frame decodes exactly. Returns ``path``.
    """
    import random

    import av
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = size + (size % 2)
    shape, fg, bg = _image_params(seed)
    rng = random.Random(seed * 104729 + 3)
    r = size * (0.15 + 0.08 * rng.random())
    cy = r + (size - 2 * r) * rng.random()
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = size
        stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.gop_size = 1
        if codec == "mpeg4":
            stream.options = {"qscale": "2"}  # near-lossless
        for i in range(num_frames):
            cx = r + (size - 2 * r) * (i / max(1, num_frames - 1))
            img = _draw(shape, _COLOURS[fg][1], _COLOURS[bg][1], size, cx, cy, r)
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_video(path: str | Path, num_frames: int | None = None) -> np.ndarray:
    """Decode a video with PyAV into a uint8 array ``(T, H, W, 3)`` (RGB).

    With ``num_frames``, that many frames are picked uniformly over the whole video (the first
    and the last included). The result can be passed to the processors as ``videos=[frames]``.
    """
    import av
    import numpy as np

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path}: no video frames decoded")
    if num_frames is not None and num_frames < len(frames):
        if num_frames <= 1:
            idx = [0]
        else:
            idx = [round(i * (len(frames) - 1) / (num_frames - 1)) for i in range(num_frames)]
        frames = [frames[i] for i in idx]
    return np.stack(frames)
