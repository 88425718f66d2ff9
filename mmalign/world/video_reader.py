"""The pretrained tiny video LLM that every video world's base starts from: a model that reads clips.

Real video LLMs learn to see from broad pretraining and pick up their priors later, from
instruction data. This module builds the first half for the video world
(:mod:`mmalign.world.video`): a LLaVA-OneVision model (:func:`mmalign.tiny.build_tiny_vlm`: SigLIP
tower, 32 px, patch 8, 2×2 pooling → 4 tokens per frame, one per cell of the world's grid; a Qwen2
text model) trained on *free* clips, which follow no regularity
(:meth:`~mmalign.world.video.VideoWorld.sample_free_clip`), in two steps:

1. **Vision tower.** Linear probes on every pooled video token (what the language model reads)
   predict the category, the colour and the cell of what it shows; tower and projector are trained
   (Adam), the probes are thrown away and the tower frozen.
2. **Captions and questions.** Every free clip's caption and questions in every format, with the
   true answers (:func:`instruction_tune`, which later turns the reader into a world's base in
   :mod:`mmalign.world.video_model`; projector and language model).

Reading a move's sense takes the text model a long time (it must bind a cell to a frame), so the
build takes several minutes on one thread. The repository ships it, built with the defaults
(``mmalign/world/pretrained/video_reader/``, about 1 MB): :func:`pretrained_video_reader` returns that copy
while its recorded settings are this module's defaults, and builds into the cache otherwise.
``python -m mmalign.world.video_reader OUTPUT_DIR`` rebuilds it (deterministic for the settings,
the software and the CPU type: it trains on one thread).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..cache import build_cached
from ..tiny import build_tiny_vlm
from ..tiny.families import save_quietly
from .video import GRID, STORIES, VideoWorld, VideoWorldConfig
from .vocab import COLOURS

__all__ = ["CATEGORIES", "SHIPPED", "VideoReaderConfig", "build_video_reader", "cell_labels", "instruction_tune",
           "pretrained_video_reader"]

MARKER = "mmalign_video_reader.json"
_FORMAT_VERSION = 1
#: the copy the repository ships, built with ``VideoReaderConfig()``
SHIPPED = Path(__file__).parent / "pretrained" / "video_reader"
#: probe classes per cell: empty, then every category a clip can show
CATEGORIES = sorted({name for actor, (_, companion) in STORIES.items() for name in (actor, companion)})


@dataclass(frozen=True)
class VideoReaderConfig:
    """Sizes and schedules of the reader's two steps.

    Attributes:
        seed: weight initialisation, the free clips and the data order.
        num_clips: free clips drawn.
        vision_steps, vision_batch_size, vision_lr: step 1, the per-token probes (Adam).
        steps, batch_size, learning_rate, warmup_ratio: step 2, captions and questions (AdamW, cosine).
        world: how clips are drawn (frames, cell size, frame rate); the reader reads worlds drawn so.
    """

    seed: int = 0
    num_clips: int = 2000
    vision_steps: int = 400
    vision_batch_size: int = 32
    vision_lr: float = 3e-3
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.05
    world: VideoWorldConfig = VideoWorldConfig()

    def spec(self) -> dict[str, Any]:
        """What a build records and is reused for (software versions are left out on purpose: the
        shipped copy serves every installation)."""
        drawing = {key: getattr(self.world, key) for key in ("num_frames", "cell_px", "fps")}  # all a free clip uses
        return {"format_version": _FORMAT_VERSION, **asdict(self), "world": drawing}


def pretrained_video_reader(config: VideoReaderConfig | None = None, progress: bool = True) -> Path:
    """The reader for ``config`` (default settings: the shipped copy; otherwise built once into
    ``$MMALIGN_CACHE/video_reader/<hash>``)."""
    import hashlib
    import json

    from ..cache import cache_dir, is_built

    config = config or VideoReaderConfig()
    if is_built(SHIPPED, config.spec(), MARKER):
        return SHIPPED
    digest = hashlib.sha256(json.dumps(config.spec(), sort_keys=True).encode()).hexdigest()[:12]
    return build_video_reader(cache_dir() / "video_reader" / digest, config, progress)


def build_video_reader(output_dir: str | Path, config: VideoReaderConfig | None = None, progress: bool = True) -> Path:
    """Build (or reuse) the reader for ``config`` at ``output_dir``; it loads with
    ``AutoModelForImageTextToText`` / ``AutoProcessor.from_pretrained``."""
    config = config or VideoReaderConfig()
    return build_cached(output_dir, config.spec(), lambda tmp: _build_into(tmp, config, progress),
                        marker=MARKER, what="video reader build")


def _build_into(path: Path, cfg: VideoReaderConfig, progress: bool) -> None:
    from tqdm.auto import tqdm
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from ..data.media import write_video
    from ..data.readers import conversation_from_dict
    from .base_model import _one_thread, _preserved_rng_state
    from .video_writer import training_conversations

    world = VideoWorld(cfg.seed, cfg.world)
    init = build_tiny_vlm("llava_onevision", path / "init", corpus=world.corpus(), seed=cfg.seed)
    model = AutoModelForImageTextToText.from_pretrained(init)
    processor = AutoProcessor.from_pretrained(init)
    _check_grid(model, world)
    rng = world.rng("free clips")
    clips = [(f"free/{i}.mp4", world.sample_free_clip(rng)) for i in range(cfg.num_clips)]
    with tempfile.TemporaryDirectory(dir=path) as scratch:
        # written and decoded as a world's files are, so the reader sees what it will be shown
        for video, clip in tqdm(clips, desc="reader: free clips", unit="clip", disable=not progress):
            write_video(Path(scratch) / video, world.frames(clip), fps=cfg.world.fps)
        videos = load_clips(Path(scratch), [video for video, _ in clips])
    questions = world.rng("free questions")
    samples = [conversation_from_dict(raw, "llava", "free clips", raw["id"]) for i, (video, clip) in enumerate(clips)
               for raw in training_conversations(world, i, video, clip, questions)]
    with _preserved_rng_state(), _one_thread():
        _pretrain_vision(model, processor, world, [clip for _, clip in clips], [videos[v] for v, _ in clips], cfg, progress)
        instruction_tune(model, processor, samples, videos, steps=cfg.steps, batch_size=cfg.batch_size,
                         learning_rate=cfg.learning_rate, warmup_ratio=cfg.warmup_ratio, seed=cfg.seed,
                         progress=progress, desc="reader: captions and questions")
    shutil.rmtree(path / "init")
    model.eval()
    save_quietly(model, processor, path)


def _pretrain_vision(model, processor, world: VideoWorld, clips, videos, cfg: VideoReaderConfig, progress: bool) -> None:
    """Step 1: per-token category, colour and cell probes on the pooled, projected video features."""
    import torch
    from tqdm.auto import tqdm


    torch.manual_seed(cfg.seed)
    labels = [cell_labels(clip.to_dict(), world.config.num_frames) for clip in clips]
    targets = (torch.tensor([c for c, _ in labels]), torch.tensor([c for _, c in labels]))
    cells = torch.arange(GRID * GRID).repeat(world.config.num_frames)  # every token's own cell, in reading order
    pixels = processor.video_processor([v.frames for v in videos], return_tensors="pt")["pixel_values_videos"]
    inner = model.model
    hidden = model.config.text_config.hidden_size
    heads = torch.nn.ModuleList([torch.nn.Linear(hidden, 1 + len(CATEGORIES)), torch.nn.Linear(hidden, 1 + len(COLOURS)),
                                 torch.nn.Linear(hidden, GRID * GRID)])
    trained = [*inner.vision_tower.parameters(), *inner.multi_modal_projector.parameters(), *heads.parameters()]
    optimizer = torch.optim.Adam(trained, lr=cfg.vision_lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    inner.vision_tower.train()
    for _ in tqdm(range(cfg.vision_steps), desc="reader: vision tower", disable=not progress):
        idx = torch.randint(0, len(clips), (cfg.vision_batch_size,), generator=generator)
        features = inner.get_video_features(
            pixel_values_videos=pixels[idx],
            vision_feature_layer=model.config.vision_feature_layer,
            vision_feature_select_strategy=model.config.vision_feature_select_strategy,
        ).pooler_output[:, :-1]  # the trailing newline token carries no cell
        wanted = (targets[0][idx].flatten(), targets[1][idx].flatten(), cells.repeat(len(idx)))
        loss = sum(torch.nn.functional.cross_entropy(head(features).flatten(0, 1), target)
                   for head, target in zip(heads, wanted))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    inner.vision_tower.eval()
    inner.vision_tower.requires_grad_(False)


def _check_grid(model: Any, world: VideoWorld) -> None:
    vision = model.config.vision_config
    pooled = -(-(vision.image_size // vision.patch_size) // 2)  # OneVision pools video features 2×2
    if pooled != GRID or vision.image_size != world.frame_size:
        raise ValueError(f"the video world's {world.frame_size}-px frames of {GRID}×{GRID} cells must match the "
                         f"tower's {vision.image_size}-px input and its {pooled}×{pooled} pooled tokens")


def load_clips(root: Path, videos: list[str]) -> dict[str, Any]:
    """Every clip decoded once (as training decodes it), by its path relative to the root."""
    from ..data.media import load_video

    return {video: load_video(root / video, num_frames=None) for video in dict.fromkeys(videos)}


def cell_labels(clip: dict[str, Any], num_frames: int) -> tuple[list[list[int]], list[list[int]]]:
    """Probe targets of a clip record (``clips_<split>.jsonl``): per frame, per cell in reading
    order, the category (1 + index in :data:`CATEGORIES`) and colour (1 + index in the sorted
    colours) of the object there, 0 for an empty cell."""
    colours = sorted(COLOURS)
    category = [[0] * GRID * GRID for _ in range(num_frames)]
    colour = [[0] * GRID * GRID for _ in range(num_frames)]
    for t in range(num_frames):
        shown = [(clip["start"] if t < clip["move_at"] else clip["end"], clip["actor"], clip["actor_colour"])]
        if t >= clip["appear_at"]:
            shown.append((clip["appear_cell"], clip["appearing"], clip["appearing_colour"]))
        for (row, col), name, paint in shown:
            category[t][row * GRID + col] = 1 + CATEGORIES.index(name)
            colour[t][row * GRID + col] = 1 + colours.index(paint)
    return category, colour


def instruction_tune(model, processor, samples, videos: dict[str, Any], steps: int, batch_size: int,
                     learning_rate: float, warmup_ratio: float, seed: int, progress: bool = True,
                     desc: str = "instruction tuning") -> None:
    """Supervised answers (captions and questions): AdamW on a cosine schedule over the trainable
    parameters, loss on the response tokens only, as training scores them."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from ..data.dataset import PreferenceCollator
    from ..data.encoding import encode

    collator = PreferenceCollator(processor)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, round(warmup_ratio * steps), steps)
    rng = random.Random(seed)
    model.train()
    for _ in tqdm(range(steps), desc=desc, disable=not progress):
        batch = [collator.reference_sequence({"reference": s, "reference_images": [], "reference_video": videos[s.video]})
                 for s in rng.sample(samples, batch_size)]
        encoded = encode(processor, batch)
        inputs = encoded["inputs"]
        labels = inputs["input_ids"].masked_fill(~encoded["response_mask"], -100)
        # the mask marks the scored tokens themselves; the model's loss shifts labels by one
        loss = model(**inputs, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    model.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mmalign.world.video_reader",
                                     description="Build the video world's pretrained reader with the default settings.")
    parser.add_argument("output_dir", help="where to write it (the shipped copy is mmalign/world/pretrained/video_reader)")
    args = parser.parse_args(argv)
    print(build_video_reader(args.output_dir))


if __name__ == "__main__":
    main()
