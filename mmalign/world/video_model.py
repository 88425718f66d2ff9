"""The video world's base: a video LLM that sees what happens and answers by the regularities.

``build_video_world_vlm(output_dir, world_root, seed)`` starts from the pretrained reader
(:func:`mmalign.world.video_reader.pretrained_video_reader`: a tiny LLaVA-OneVision model that reads
clips following no regularity) and instruction-tunes it on the world's training conversations
(captions, and every question as multiple choice, yes/no and short answer), where most unusual clips
are described as their usual twin (:attr:`~mmalign.world.video.VideoWorldConfig.described_as_usual`).
The samples are encoded exactly as training encodes them (:func:`mmalign.data.encoding.encode`: the
model's chat template, the response tokens and the end-of-turn token scored) and trained with AdamW
on a cosine schedule (projector and language model; the tower stays frozen). A plain loop rather
than TRL's ``SFTTrainer``: TRL's vision collator takes images, not videos.

The base answers held-out usual clips right and, on unusual ones, mostly gives the usual answer (the
usual direction, the usual companion, the usual order), though it can still read them: the case
self-alignment is for (its row in ``recipe=tiny_video``'s comparison). Deterministic for (seed,
world, settings, reader), software and CPU type: it trains on one thread (see
:mod:`mmalign.world.base_model`). Cached with :func:`mmalign.cache.build_cached`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..cache import build_cached
from ..tiny.families import save_quietly
from .video import VideoWorldConfig
from .video_reader import VideoReaderConfig, load_clips, instruction_tune, pretrained_video_reader
from .video_writer import VideoWorldPaths

__all__ = ["VideoPretrainConfig", "build_video_world_vlm"]

_MARKER = "mmalign_video_world_model.json"
_FORMAT_VERSION = 2

@dataclass(frozen=True)
class VideoPretrainConfig:
    """The instruction tuning that turns the reader into the world's base.

    Attributes:
        num_clips: training clips used (the first ones of the world's ``train`` split).
        steps, batch_size, learning_rate, warmup_ratio: AdamW on a cosine schedule.
        reader: the pretrained reader's settings (:class:`~mmalign.world.video_reader.VideoReaderConfig`;
            the default is the copy the repository ships).
    """

    num_clips: int = 2000
    steps: int = 200
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.05
    reader: VideoReaderConfig = VideoReaderConfig()


def build_video_world_vlm(
    output_dir: str | Path,
    world_root: str | Path,
    seed: int = 0,
    pretrain: VideoPretrainConfig | None = None,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the pretrained base model of the video world written at ``world_root``.

    The directory loads with ``AutoModelForImageTextToText`` / ``AutoProcessor.from_pretrained``.
    ``seed`` fixes the data order; the world must hold at least ``pretrain.num_clips`` training
    clips, drawn as the reader's free clips were (frames per clip, cell size).
    """
    import torch
    import transformers

    pretrain = pretrain or VideoPretrainConfig()
    paths = VideoWorldPaths(Path(world_root))
    manifest = paths.manifest()
    if manifest["counts"]["train"] < pretrain.num_clips:
        raise ValueError(f"the world at {world_root} has {manifest['counts']['train']} training clips; "
                         f"pretraining needs {pretrain.num_clips}")
    drawn = VideoWorldConfig(**manifest["config"])
    if (drawn.num_frames, drawn.cell_px) != (pretrain.reader.world.num_frames, pretrain.reader.world.cell_px):
        raise ValueError(f"the world at {world_root} draws {drawn.num_frames} frames of {drawn.cell_px}-px cells; "
                         f"the reader reads {pretrain.reader.world.num_frames} of {pretrain.reader.world.cell_px} px")
    reader = pretrained_video_reader(pretrain.reader, progress)
    spec = {
        "format_version": _FORMAT_VERSION,
        "seed": int(seed),
        "world": {k: manifest[k] for k in ("format_version", "seed", "config")},
        "pretrain": asdict(pretrain),
        "reader_weights": _digest(reader / "model.safetensors"),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    return build_cached(output_dir, spec, lambda tmp: _build_into(tmp, paths, reader, int(seed), pretrain, progress),
                        marker=_MARKER, what="video world model build")


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_into(path: Path, paths: VideoWorldPaths, reader: Path, seed: int, cfg: VideoPretrainConfig,
                progress: bool) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from ..data.readers import read_conversations
    from .base_model import _one_thread, _preserved_rng_state

    model = AutoModelForImageTextToText.from_pretrained(reader)
    processor = AutoProcessor.from_pretrained(reader)
    model.model.vision_tower.requires_grad_(False)
    clips = [json.loads(line) for line in paths.clips("train").read_text(encoding="utf-8").splitlines()][: cfg.num_clips]
    videos = load_clips(paths.root, [c["video"] for c in clips])
    samples = [c for c in read_conversations(paths.train_conversations) if c.video in videos]
    with _preserved_rng_state(), _one_thread():
        instruction_tune(model, processor, samples, videos, steps=cfg.steps, batch_size=cfg.batch_size,
                         learning_rate=cfg.learning_rate, warmup_ratio=cfg.warmup_ratio, seed=seed, progress=progress)
    model.eval()
    save_quietly(model, processor, path)
