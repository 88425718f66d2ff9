"""Loading an item's images and video for generation, and checking they exist before any work.

Videos go through :func:`mmalign.data.media.load_video` (PyAV). Some benchmarks (MVBench) ship
a few videos as folders of numbered frames; those are sampled here the same way, uniformly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmalign.data.media import VideoClip, load_image, load_video, uniform_frame_indices
from mmalign.errors import DataError

from .benchmarks.base import Item

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
#: Frame folders carry no rate; MVBench extracted its frame folders at 3 frames per second.
FRAME_FOLDER_FPS = 3.0


def check_media(items: list[Item]) -> None:
    """Every image and video of ``items`` exists (a cheap stat), or one line naming the first missing."""
    for item in items:
        for image in item.images:
            if not Path(image).is_file():
                raise DataError(f"image file not found: {image}", source=item.source, record_id=item.id)
        if item.video is not None and not Path(item.video).exists():
            raise DataError(f"video file not found: {item.video}", source=item.source, record_id=item.id)


def load_item_media(item: Item, num_frames: int | None, fps: float | None) -> tuple[list[Any], VideoClip | None]:
    """PIL images and the sampled video clip of ``item``."""
    images = [load_image(path, source=item.source, record_id=item.id) for path in item.images]
    clip = None
    if item.video is not None:
        start, end = item.video_span or (None, None)
        frames = None if fps else num_frames
        if Path(item.video).is_dir():
            clip = load_frame_folder(item.video, frames or 16, start, end, source=item.source, record_id=item.id)
        else:
            clip = load_video(item.video, num_frames=frames, fps=fps, start=start, end=end, source=item.source, record_id=item.id)
    return images, clip


def load_frame_folder(
    folder: str | Path,
    num_frames: int,
    start: float | None = None,
    end: float | None = None,
    *,
    source: str | None = None,
    record_id: str | None = None,
) -> VideoClip:
    """``num_frames`` frames sampled uniformly from a folder of image files (sorted by name)."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no frames in video folder {folder}", source=source, record_id=record_id)
    first = 0 if start is None else min(max(0, round(start * FRAME_FOLDER_FPS)), len(files) - 1)
    last = len(files) - 1 if end is None else max(first, min(len(files) - 1, round(end * FRAME_FOLDER_FPS)))
    indices = [first + i for i in uniform_frame_indices(last - first + 1, num_frames)]
    images = [load_image(files[i], source=source, record_id=record_id) for i in indices]
    size = images[0].size
    frames = np.stack([np.asarray(im if im.size == size else im.resize(size)) for im in images])
    return VideoClip(
        frames=frames,
        timestamps=[i / FRAME_FOLDER_FPS for i in indices],
        fps=FRAME_FOLDER_FPS,
        total_frames=len(files),
        duration=len(files) / FRAME_FOLDER_FPS,
        frame_indices=indices,
    )
