"""Media loading for training and evaluation records: images (PIL) and videos (PyAV).

Everything that can go wrong with a record's media file (missing, unreadable, corrupt, no video
stream, no frames) is raised as :class:`mmalign.errors.DataError` with the path in the message; the
caller passes ``source=`` (file:line) and ``record_id=`` so the message names the record too.
Invalid *arguments* (both ``num_frames`` and ``fps`` given, a negative rate, ...) are programming or
configuration errors and raise :class:`ValueError`.

Images
    :func:`load_image` returns a fully loaded RGB ``PIL.Image`` (file handle closed). EXIF orientation
    is applied (as ``transformers.image_utils.load_image`` does) and images with transparency are
    composited onto a white background rather than having their alpha dropped (so transparent pixels
    do not turn into whatever colour happens to be stored under them, usually black).
    :func:`check_image` validates a file cheaply (header + ``Image.verify``, no pixel decoding) and
    returns its (width, height) after EXIF orientation, i.e. the size :func:`load_image` would give.

Videos
    :func:`load_video` decodes with PyAV, sequentially, keeping only the selected frames in memory,
    and returns a :class:`VideoClip`. Two sampling modes, exactly one at a time:

    * ``num_frames=N`` (default :data:`DEFAULT_NUM_FRAMES` when neither is given): frame indices
      ``np.linspace(0, total - 1, N).round()`` over the whole video, the convention of LLaVA-Video and
      lmms-eval (numpy rounds halves to even). A video with fewer than ``N`` frames yields *all* its
      frames (fewer than ``N``; no frame is duplicated). The total comes from the stream header when
      it is there, else from one demuxing (counting) pass; if decoding then finds a different number
      of frames than the header claimed, the selection is redone once with the true count.
    * ``fps=R``: one frame per tick ``0, 1/R, 2/R, ...`` of the video's own presentation timestamps
      (relative to the first frame), taking the frame nearest each tick (the first frame at or after
      ``tick - half a source frame interval``). Sampling above the source rate returns each frame once.
      A 5 s video at ``fps=2`` gives 10 frames.
    * ``num_frames=N, frame_sampling="interval"``: indices ``⌊i·total/N⌋`` for i < N, the official
      RRPO / LLaVA-Video training loader's ``force_sample`` rule (a video with fewer than ``N``
      frames repeats frames, as that loader does).

    :func:`check_video` validates cheaply (open, find a video stream, decode the first frame).

:func:`write_video` is a small encoder for tests and demos (lossless H.264/libx264 in MP4 when the
bundled ffmpeg has it, else MPEG-4 part 2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from mmalign.errors import DataError

__all__ = [
    "DEFAULT_NUM_FRAMES",
    "VideoClip",
    "check_image",
    "check_video",
    "load_image",
    "load_video",
    "resolve_media_path",
    "uniform_frame_indices",
    "write_video",
]

#: Frames sampled by :func:`load_video` when neither ``num_frames`` nor ``fps`` is given.
DEFAULT_NUM_FRAMES = 16

#: Codecs tried, in order, by :func:`write_video`.
WRITE_CODECS = ("libx264", "mpeg4")

_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # rotations by 90/270 degrees: width and height swap


# --------------------------------------------------------------------------------------------------
# paths and errors


def resolve_media_path(
    path: str | os.PathLike,
    media_root: str | os.PathLike | None,
    *,
    source: str | None = None,
    record_id: str | None = None,
) -> Path:
    """Where a record's media file lies.

    ``~`` is expanded in both ``path`` and ``media_root``. An absolute ``path`` is returned as is; a
    relative one is joined to ``media_root`` (or to the current directory when ``media_root`` is
    None). The result is absolute; symlinks are not resolved and the file need not exist.
    An empty path is a :class:`DataError`.
    """
    if path is None or str(path).strip() == "":
        raise DataError("empty media path", source=source, record_id=record_id)
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    root = Path.cwd() if media_root is None else Path(media_root).expanduser()
    return (root / p).absolute()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _existing_file(path: str | os.PathLike, kind: str, source, record_id) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{kind} file not found: {p}", source=source, record_id=record_id)
    if not p.is_file():
        raise DataError(f"cannot read {kind} {p}: not a regular file", source=source, record_id=record_id)
    return p


# --------------------------------------------------------------------------------------------------
# images


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode as 8-bit RGB: alpha over white, CMYK/palette/YCbCr through PIL, and grey
    levels of more than 8 bits scaled down (PIL's own conversion clips them at 255)."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _deep_grey_to_l(im)
    has_alpha = im.mode in ("RGBA", "LA", "RGBa", "La", "PA") or (
        im.mode == "P" and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _deep_grey_to_l(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float grey images as 8-bit ``L``.

    Integer samples are 16-bit levels (what PNG and TIFF store in these modes): 0..65535 maps onto
    0..255 (v / 257, rounded). Float samples in [0, 1] are scaled by 255; other float images are
    taken as 0..255 levels and clipped.
    """
    values = np.nan_to_num(np.asarray(im, dtype=np.float64))
    if im.mode == "F":
        scaled = values * 255.0 if values.size and values.min() >= 0.0 and values.max() <= 1.0 else values
    else:
        scaled = np.clip(values, 0, 65535) / 257.0
    return Image.fromarray(np.rint(np.clip(scaled, 0, 255)).astype(np.uint8))  # 2-D uint8: mode L


def load_image(
    path: str | os.PathLike, *, source: str | None = None, record_id: str | None = None
) -> Image.Image:
    """Decode an image file into a fully loaded RGB ``PIL.Image`` (the file is closed on return)."""
    p = _existing_file(path, "image", source, record_id)
    try:
        with Image.open(p) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            rgb = _to_rgb(im)
            rgb.load()
            if rgb is im:  # still backed by the file object: detach it
                rgb = rgb.copy()
    except DataError:
        raise
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        raise DataError(f"cannot read image {p}: {_reason(exc)}", source=source, record_id=record_id) from exc
    return rgb


def expand_to_square(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Pad ``image`` to a square of its longer side with ``background``, centred (LLaVA's
    ``expand2square``, its ``image_aspect_ratio=pad``); a square image is returned as it is."""
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new(image.mode, (side, side), background)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def check_image(
    path: str | os.PathLike, *, source: str | None = None, record_id: str | None = None
) -> tuple[int, int]:
    """Cheaply validate an image file and return its ``(width, height)`` as :func:`load_image` gives it.

    Reads the header and runs ``Image.verify`` (structure/checksums, no pixel decoding), so a file whose
    pixel data is truncated may still pass; :func:`load_image` would then raise the DataError.
    """
    p = _existing_file(path, "image", source, record_id)
    try:
        with Image.open(p) as im:
            width, height = im.size
            exif_bytes = im.info.get("exif")  # JPEG / WebP: parsed with the header
            late_exif = exif_bytes is None and im.format in ("PNG", "TIFF", "MPO")
            im.verify()  # must come straight after open
        orientation = None
        try:
            if exif_bytes is not None:
                exif = Image.Exif()
                exif.load(exif_bytes)
                orientation = exif.get(_EXIF_ORIENTATION)
            elif late_exif:  # EXIF may sit anywhere in these: a second, header-only open
                with Image.open(p) as im:
                    orientation = im.getexif().get(_EXIF_ORIENTATION)
        except Exception:  # unreadable EXIF is ignored by exif_transpose too
            orientation = None
    except Exception as exc:
        raise DataError(f"cannot read image {p}: {_reason(exc)}", source=source, record_id=record_id) from exc
    if width <= 0 or height <= 0:
        raise DataError(
            f"cannot read image {p}: empty image ({width}x{height})", source=source, record_id=record_id
        )
    if orientation in _TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    return width, height


# --------------------------------------------------------------------------------------------------
# videos


@dataclass
class VideoClip:
    """Frames sampled from a video, with what a processor needs to know about them.

    ``frames``: (T, H, W, 3) uint8 RGB. ``frame_indices``: index of each sampled frame in the decoded
    video (presentation order, from 0). ``timestamps``: presentation time of each sampled frame in
    seconds, relative to the first frame of the video. ``fps``: the *source* frame rate (0.0 if the
    file gives none). ``total_frames`` / ``duration``: of the whole source video.
    """

    frames: np.ndarray
    timestamps: list[float]
    fps: float
    total_frames: int
    duration: float
    frame_indices: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def num_frames(self) -> int:
        return len(self)

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def metadata(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.video_utils.VideoMetadata`` (and the ``video_metadata``
        argument of transformers 5 video processors): total_num_frames, fps, width, height, duration,
        video_backend, frames_indices."""
        return {
            "total_num_frames": int(self.total_frames),
            "fps": float(self.fps) if self.fps > 0 else None,
            "width": self.width,
            "height": self.height,
            "duration": float(self.duration),
            "video_backend": "pyav",
            "frames_indices": [int(i) for i in self.frame_indices],
        }


def uniform_frame_indices(total_frames: int, num_frames: int) -> list[int]:
    """``np.linspace(0, total_frames - 1, num_frames).round()`` as ints; all frames when there are fewer
    than ``num_frames``. For 20 frames and 5 samples: [0, 5, 10, 14, 19]."""
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if total_frames <= 0:
        return []
    if total_frames <= num_frames:
        return list(range(total_frames))
    return [int(i) for i in np.linspace(0, total_frames - 1, num_frames).round().astype(np.int64)]


#: how ``num_frames`` frames are picked: see the module docstring
FRAME_SAMPLINGS = ("linspace", "interval")


def interval_frame_indices(total_frames: int, num_frames: int) -> list[int]:
    """``⌊i · total_frames / num_frames⌋`` for i in 0..num_frames-1 (the official RRPO training loader's
    rule). For 20 frames and 5 samples: [0, 4, 8, 12, 16]; for 3 frames and 4 samples: [0, 0, 1, 2]."""
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if total_frames <= 0:
        return []
    return [int(i * (total_frames / float(num_frames))) for i in range(num_frames)]


@dataclass
class _StreamInfo:
    fps: float  # 0.0 when unknown
    frames: int  # 0 when unknown
    duration: float  # 0.0 when unknown


def _stream_info(container, stream) -> _StreamInfo:
    rate = None
    for attr in ("average_rate", "guessed_rate", "base_rate"):
        try:
            rate = getattr(stream, attr, None)
        except Exception:
            rate = None
        if rate:
            break
    fps = float(rate) if rate else 0.0
    frames = int(stream.frames or 0)
    duration = 0.0
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000  # AV_TIME_BASE
    return _StreamInfo(fps=fps, frames=max(frames, 0), duration=max(duration, 0.0))


class _Video:
    """An opened container and its first video stream; raises DataError for files PyAV cannot use."""

    def __init__(self, path: Path, source, record_id):
        import av

        self.path, self.source, self.record_id = path, source, record_id
        try:
            self.container = av.open(str(path), mode="r")
        except Exception as exc:
            raise self.error(_reason(exc)) from exc
        if not self.container.streams.video:
            self.container.close()
            raise self.error("no video stream")
        self.stream = self.container.streams.video[0]
        self.info = _stream_info(self.container, self.stream)

    def error(self, reason: str) -> DataError:
        return DataError(
            f"cannot read video {self.path}: {reason}", source=self.source, record_id=self.record_id
        )

    def __enter__(self) -> _Video:
        return self

    def __exit__(self, *exc) -> None:
        self.container.close()


def _count_frames(path: Path, source, record_id) -> int:
    """One demuxing pass (no decoding): the number of non-empty packets of the video stream."""
    with _Video(path, source, record_id) as v:
        try:
            return sum(1 for packet in v.container.demux(v.stream) if packet.size)
        except Exception as exc:
            raise v.error(_reason(exc)) from exc


@dataclass
class _Pass:
    frames: list[np.ndarray]
    indices: list[int]
    timestamps: list[float]
    decoded: int  # frames decoded (all of them, unless the pass stopped early)
    complete: bool  # decoded to the end of the stream
    span: float  # time of the last decoded frame, relative to the first (0.0 for one frame)
    info: _StreamInfo


def _decode_pass(
    path: Path,
    source,
    record_id,
    want: Callable[[int, float], bool],
    stop_after: int | None = None,
    fps_hint: float = 0.0,
) -> _Pass:
    """Decode the first video stream in presentation order, keeping the frames ``want(i, t)`` accepts.

    ``t`` is the frame's time in seconds relative to the first frame (index / fps when frames carry no
    timestamp). Only the kept frames are converted to RGB arrays and held.
    """
    with _Video(path, source, record_id) as v:
        info = v.info
        fps = info.fps or fps_hint
        v.stream.thread_type = "AUTO"
        frames: list[np.ndarray] = []
        indices: list[int] = []
        times: list[float] = []
        t0: float | None = None
        size: tuple[int, int] | None = None
        n = 0
        t = 0.0
        complete = True
        try:
            for frame in v.container.decode(v.stream):
                if frame.time is not None:
                    if t0 is None:
                        t0 = float(frame.time)
                    t = float(frame.time) - t0
                elif fps > 0:
                    t = n / fps
                else:
                    raise v.error("frames have neither timestamps nor a frame rate")
                if want(n, t):
                    if size is None:
                        size = (frame.width, frame.height)
                    if (frame.width, frame.height) == size:
                        arr = frame.to_ndarray(format="rgb24")
                    else:  # resolution change mid-stream: keep one shape
                        arr = frame.to_ndarray(width=size[0], height=size[1], format="rgb24")
                    frames.append(np.ascontiguousarray(arr, dtype=np.uint8))
                    indices.append(n)
                    times.append(t)
                n += 1
                if stop_after is not None and n > stop_after:
                    complete = False
                    break
        except DataError:
            raise
        except Exception as exc:
            raise v.error(_reason(exc)) from exc
    if n == 0:
        raise DataError(f"cannot read video {path}: no decodable frames", source=source, record_id=record_id)
    return _Pass(frames, indices, times, n, complete, t, info)


class _RateSelector:
    """Pick the frame nearest each tick 0, 1/rate, 2/rate, ... (ties go to the earlier frame)."""

    def __init__(self, rate: float, source_fps: float):
        self.step = 1.0 / rate
        self.tolerance = 0.5 / source_fps if source_fps > 0 else 0.0
        self.next_tick = 0.0

    def __call__(self, index: int, t: float) -> bool:
        reach = t + self.tolerance + 1e-9
        if reach < self.next_tick:
            return False
        while self.next_tick <= reach:
            self.next_tick += self.step
        return True


def _clip(p: _Pass, total: int, path: Path, source, record_id) -> VideoClip:
    if not p.frames:
        raise DataError(f"cannot read video {path}: no frames selected", source=source, record_id=record_id)
    fps = p.info.fps
    if fps <= 0 and p.complete and p.decoded > 1 and p.span > 0:
        fps = (p.decoded - 1) / p.span
    duration = p.info.duration
    if duration <= 0:
        duration = total / fps if fps > 0 else p.span
    return VideoClip(
        frames=np.stack(p.frames),
        timestamps=[float(t) for t in p.timestamps],
        fps=float(fps),
        total_frames=int(total),
        duration=float(duration),
        frame_indices=list(p.indices),
    )


def load_video(
    path: str | os.PathLike,
    num_frames: int | None = None,
    fps: float | None = None,
    *,
    start: float | None = None,
    end: float | None = None,
    frame_sampling: str = "linspace",
    source: str | None = None,
    record_id: str | None = None,
) -> VideoClip:
    """Decode a video and sample frames from it; see the module docstring for the sampling rules.

    Exactly one of ``num_frames`` / ``fps``; with neither, ``num_frames=DEFAULT_NUM_FRAMES``.
    ``start`` / ``end`` (seconds, either may be None) restrict the sampling to that part of the video
    (benchmarks such as MVBench ask about a segment).
    """
    if num_frames is not None and fps is not None:
        raise ValueError("give num_frames or fps, not both")
    if num_frames is None and fps is None:
        num_frames = DEFAULT_NUM_FRAMES
    if num_frames is not None and (
        isinstance(num_frames, bool) or int(num_frames) != num_frames or num_frames <= 0
    ):
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if frame_sampling not in FRAME_SAMPLINGS:
        raise ValueError(f"frame_sampling must be one of {', '.join(FRAME_SAMPLINGS)}, got {frame_sampling!r}")
    pick = interval_frame_indices if frame_sampling == "interval" else uniform_frame_indices

    p = _existing_file(path, "video", source, record_id)

    lo = float(start) if start is not None else 0.0
    hi = float(end) if end is not None else math.inf
    if fps is not None:
        with _Video(p, source, record_id) as v:
            source_fps = v.info.fps
        selector = _RateSelector(fps, source_fps)
        result = _decode_pass(p, source, record_id, lambda i, t: lo <= t <= hi and selector(i, t - lo))
        return _clip(result, result.decoded, p, source, record_id)

    num_frames = int(num_frames)
    with _Video(p, source, record_id) as v:
        total = v.info.frames
        rate = v.info.fps
    if total <= 0:
        total = _count_frames(p, source, record_id)
    if total <= 0:
        raise DataError(f"cannot read video {p}: zero frames", source=source, record_id=record_id)

    result = None
    for _attempt in range(2):
        wanted = pick(total, num_frames)
        if (start is not None or end is not None) and rate > 0:
            first = min(max(0, round(lo * rate)), total - 1)
            last = max(first, min(total - 1, round(hi * rate) if math.isfinite(hi) else total - 1))
            wanted = [first + i for i in pick(last - first + 1, num_frames)]
        chosen = set(wanted)
        # Stop once the last wanted frame is decoded, unless that is the last frame anyway: decoding to
        # the end then costs nothing and checks the header's frame count.
        stop = wanted[-1] if wanted[-1] < total - 1 else None
        result = _decode_pass(p, source, record_id, lambda i, t: i in chosen, stop_after=stop)
        short = len(result.indices) < len(chosen)  # the stream ended before a wanted frame
        if not short and not (result.complete and result.decoded != total):
            return _clip(_repeat_frames(result, wanted), total, p, source, record_id)
        total = result.decoded  # exact now: redo the selection once with the true count
    assert result is not None
    return _clip(_repeat_frames(result, wanted), total, p, source, record_id)


def _repeat_frames(p: _Pass, wanted: list[int]) -> _Pass:
    """Where ``wanted`` names a frame more than once (interval sampling of a short video), repeat
    the decoded frame in place, so the clip has one frame per wanted index."""
    if len(set(wanted)) == len(wanted):
        return p
    position = {index: k for k, index in enumerate(p.indices)}
    order = [position[i] for i in wanted if i in position]
    p.frames = [p.frames[k] for k in order]
    p.timestamps = [p.timestamps[k] for k in order]
    p.indices = [p.indices[k] for k in order]
    return p


def check_video(
    path: str | os.PathLike,
    *,
    decode_first: bool = True,
    source: str | None = None,
    record_id: str | None = None,
) -> int:
    """Cheaply validate a video file: open it, find a video stream and (by default) decode its first frame.

    Returns the frame count from the stream header, or -1 when the header gives none. Raises DataError
    like :func:`load_video` (missing file, unreadable container, no video stream, no decodable frame).
    """
    p = _existing_file(path, "video", source, record_id)
    with _Video(p, source, record_id) as v:
        if decode_first:
            try:
                first = next(iter(v.container.decode(v.stream)), None)
            except Exception as exc:
                raise v.error(_reason(exc)) from exc
            if first is None:
                raise v.error("no decodable frames")
        return v.info.frames if v.info.frames > 0 else -1


# --------------------------------------------------------------------------------------------------
# writing (tests and demos)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 4) -> Path:
    """Encode uint8 RGB frames of shape (T, H, W, 3) into ``path`` (container from the suffix, e.g. .mp4).

    Tries lossless H.264 (libx264 at qp 0, no B-frames) and falls back to MPEG-4 part 2 at a high bit
    rate. The pixel format is yuv420p, which needs even H and W (ValueError otherwise); the colour
    conversion (and the fallback codec) are lossy, so decoded values differ from the input by a few
    levels. Lossless coding also makes the decoded frames the same from run to run: at a constant
    rate factor x264's choices, and so the decoded pixels, were seen to differ between two runs in a
    process that had loaded torch. Returns the path.
    """
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be non-empty uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"yuv420p needs even frame sizes, got {width}x{height}")
    if int(fps) != fps or fps <= 0:
        raise ValueError(f"fps must be a positive integer, got {fps!r}")
    out = Path(path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)

    errors = []
    for codec in WRITE_CODECS:
        try:
            _encode(av, out, frames, int(fps), codec)
            return out
        except Exception as exc:
            errors.append(f"{codec}: {_reason(exc)}")
            out.unlink(missing_ok=True)
    raise RuntimeError(f"cannot encode {out} with any of {WRITE_CODECS}: " + "; ".join(errors))


def _encode(av, out: Path, frames: np.ndarray, fps: int, codec: str) -> None:
    options = {"qp": "0", "bf": "0", "preset": "veryfast"} if codec == "libx264" else {}
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width = frames.shape[2]
        stream.height = frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec != "libx264":
            stream.bit_rate = max(2_000_000, frames.shape[1] * frames.shape[2] * fps * 4)
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
