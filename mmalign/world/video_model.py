"""A tiny video LLM of the video world (:mod:`mmalign.world.video`) that leans on its regularities.

``build_video_world_vlm(output_dir, world_root, seed)`` builds a LLaVA-OneVision model
(:func:`mmalign.tiny.build_tiny_vlm`: SigLIP tower, 32 px, patch 8, 2×2 pooling → 4 tokens per
frame, one per cell of the world's grid; a Qwen2 text model) with a tokenizer trained on the
world's words, and pretrains it on the world's training clips in LLaVA's two steps:

1. **Vision tower.** A linear probe on every pooled video token (what the language model reads)
   predicts the category and colour of the object in that cell, or an empty cell; tower and
   projector are trained (Adam, a few hundred steps), the probe is thrown away and the tower frozen.
2. **Instruction tuning.** The world's training conversations (captions, and every question as
   multiple choice, yes/no and short answer) are encoded exactly as training encodes samples
   (:func:`mmalign.data.encoding.encode`: the model's chat template, the response tokens and the
   end-of-turn token scored) and trained with AdamW on a cosine schedule (projector and language
   model). A plain loop rather than TRL's ``SFTTrainer``: TRL's vision collator takes images, not
   videos.

With the default settings (the world's training split 30 % unusual) the base answers held-out
usual clips right and, on unusual ones, mostly gives the usual answer (the usual direction, the
usual companion, the usual order): over seeds 0–2 it answered 98–100 % of usual and 1–28 % of
unusual clips' multiple-choice questions right (its row in ``recipe=tiny_video``'s comparison).
Deterministic for (seed, world, pretraining config), software and CPU type: it trains on one
thread (see :mod:`mmalign.world.base_model`). Cached with
:func:`mmalign.cache.build_cached`.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..cache import build_cached
from ..tiny import build_tiny_vlm
from ..tiny.families import save_quietly
from .video import GRID, STORIES, VideoWorld, VideoWorldConfig
from .video_writer import VideoWorldPaths
from .vocab import COLOURS

__all__ = ["VideoPretrainConfig", "build_video_world_vlm"]

_MARKER = "mmalign_video_world_model.json"
_FORMAT_VERSION = 1
#: probe classes per cell: empty, then every category a clip can show
CATEGORIES = sorted({name for actor, (_, companion) in STORIES.items() for name in (actor, companion)})


@dataclass(frozen=True)
class VideoPretrainConfig:
    """Sizes and schedules of the two pretraining steps.

    Attributes:
        num_clips: training clips used (the first ones of the world's ``train`` split).
        vision_steps, vision_batch_size, vision_lr: step 1, the per-token probe (Adam).
        steps, batch_size, learning_rate, warmup_ratio: step 2, instruction tuning (AdamW, cosine).
    """

    num_clips: int = 2000
    vision_steps: int = 150
    vision_batch_size: int = 32
    vision_lr: float = 3e-3
    steps: int = 400
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_ratio: float = 0.05


def build_video_world_vlm(
    output_dir: str | Path,
    world_root: str | Path,
    seed: int = 0,
    pretrain: VideoPretrainConfig | None = None,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the pretrained base model of the video world written at ``world_root``.

    The directory loads with ``AutoModelForImageTextToText`` / ``AutoProcessor.from_pretrained``.
    ``seed`` fixes the weight initialisation and the data order; the world must hold at least
    ``pretrain.num_clips`` training clips.
    """
    import torch
    import transformers

    pretrain = pretrain or VideoPretrainConfig()
    paths = VideoWorldPaths(Path(world_root))
    manifest = paths.manifest()
    if manifest["counts"]["train"] < pretrain.num_clips:
        raise ValueError(f"the world at {world_root} has {manifest['counts']['train']} training clips; "
                         f"pretraining needs {pretrain.num_clips}")
    spec = {
        "format_version": _FORMAT_VERSION,
        "seed": int(seed),
        "world": {k: manifest[k] for k in ("format_version", "seed", "config")},
        "pretrain": asdict(pretrain),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    return build_cached(output_dir, spec, lambda tmp: _build_into(tmp, paths, manifest, int(seed), pretrain, progress),
                        marker=_MARKER, what="video world model build")


def _build_into(path: Path, paths: VideoWorldPaths, manifest: dict, seed: int, cfg: VideoPretrainConfig,
                progress: bool) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from .base_model import _one_thread, _preserved_rng_state

    world = VideoWorld(manifest["seed"], VideoWorldConfig(**manifest["config"]))
    init = build_tiny_vlm("llava_onevision", path / "init", corpus=world.corpus(), seed=seed)
    model = AutoModelForImageTextToText.from_pretrained(init)
    processor = AutoProcessor.from_pretrained(init)
    _check_grid(model, world)
    clips = [json.loads(line) for line in paths.clips("train").read_text(encoding="utf-8").splitlines()][: cfg.num_clips]
    videos = _load_clips(paths.root, [c["video"] for c in clips])
    with _preserved_rng_state(), _one_thread():
        _pretrain_vision(model, processor, world, clips, videos, cfg, seed, progress)
        _instruction_tune(model, processor, paths, {c["video"] for c in clips}, videos, cfg, seed, progress)
    shutil.rmtree(path / "init")
    model.eval()
    save_quietly(model, processor, path)


def _check_grid(model: Any, world: VideoWorld) -> None:
    vision = model.config.vision_config
    pooled = -(-(vision.image_size // vision.patch_size) // 2)  # OneVision pools video features 2×2
    if pooled != GRID or vision.image_size != world.frame_size:
        raise ValueError(f"the video world's {world.frame_size}-px frames of {GRID}×{GRID} cells must match the "
                         f"tower's {vision.image_size}-px input and its {pooled}×{pooled} pooled tokens")


def _load_clips(root: Path, videos: list[str]) -> dict[str, Any]:
    """Every clip decoded once (as training decodes it), by its path relative to the root."""
    from ..data.media import load_video

    return {video: load_video(root / video, num_frames=None) for video in dict.fromkeys(videos)}


def _pretrain_vision(model, processor, world: VideoWorld, clips, videos, cfg: VideoPretrainConfig, seed: int,
                     progress: bool) -> None:
    """Step 1: per-token category and colour probes on the pooled, projected video features."""
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    labels = [cell_labels(c, world.config.num_frames) for c in clips]
    category = torch.tensor([c for c, _ in labels])
    colour = torch.tensor([c for _, c in labels])
    pixels = processor.video_processor([videos[c["video"]].frames for c in clips], return_tensors="pt")["pixel_values_videos"]
    inner = model.model
    hidden = model.config.text_config.hidden_size
    category_head = torch.nn.Linear(hidden, 1 + len(CATEGORIES))
    colour_head = torch.nn.Linear(hidden, 1 + len(COLOURS))
    trained = [*inner.vision_tower.parameters(), *inner.multi_modal_projector.parameters()]
    optimizer = torch.optim.Adam([*trained, *category_head.parameters(), *colour_head.parameters()], lr=cfg.vision_lr)
    generator = torch.Generator().manual_seed(seed)
    inner.vision_tower.train()
    for _ in tqdm(range(cfg.vision_steps), desc="vision tower", disable=not progress):
        idx = torch.randint(0, len(clips), (cfg.vision_batch_size,), generator=generator)
        features = inner.get_video_features(
            pixel_values_videos=pixels[idx],
            vision_feature_layer=model.config.vision_feature_layer,
            vision_feature_select_strategy=model.config.vision_feature_select_strategy,
        ).pooler_output[:, :-1]  # the trailing newline token carries no cell
        loss = torch.nn.functional.cross_entropy(category_head(features).flatten(0, 1), category[idx].flatten()) + \
            torch.nn.functional.cross_entropy(colour_head(features).flatten(0, 1), colour[idx].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    inner.vision_tower.eval()
    inner.vision_tower.requires_grad_(False)


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


def _instruction_tune(model, processor, paths: VideoWorldPaths, videos_used: set[str], videos, cfg: VideoPretrainConfig,
                      seed: int, progress: bool) -> None:
    """Step 2: supervised answers (captions and questions) on the training clips; loss on the
    response tokens only, as training scores them."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    from ..data.dataset import PreferenceCollator
    from ..data.encoding import encode
    from ..data.readers import read_conversations

    samples = [c for c in read_conversations(paths.train_conversations) if c.video in videos_used]
    collator = PreferenceCollator(processor)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * cfg.steps), cfg.steps)
    rng = random.Random(seed)
    model.train()
    for _ in tqdm(range(cfg.steps), desc="instruction tuning", disable=not progress):
        batch = [collator.reference_sequence({"reference": s, "reference_images": [], "reference_video": videos[s.video]})
                 for s in rng.sample(samples, cfg.batch_size)]
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
