"""The world's base model: a tiny VLM of the procedural world (:mod:`mmalign.world`) that
hallucinates like LLaVA.

``build_world_vlm(output_dir, seed)`` builds a LLaVA-style model (:func:`mmalign.tiny.build_tiny_vlm`:
CLIP tower, 32 px, patch 8 → 16 image tokens; a Llama text model) with a tokenizer trained on the
world's words, and pretrains it in LLaVA's two steps:

1. **Vision tower.** LLaVA starts from a CLIP tower pretrained elsewhere; ours starts random, so it
   first gets a short supervised pretraining of its own: a linear head on every patch feature (at
   the layer the projector reads) predicts the category and the colour of the object in that cell
   (the world's cells are the tower's patches). A plain loop of a few hundred Adam steps: the
   heads are thrown away afterwards, and a ``Trainer`` would only add set-up time. The tower is then
   frozen, as in LLaVA.
2. **Captioning.** Supervised captioning of the world's training scenes ("Describe the image." →
   caption) with TRL's ``SFTTrainer`` on prompt-completion samples (its vision-language collator
   processes the images; the loss covers the completion only). The projector and the language
   model are trained.

The prompt is rendered with the processor's chat template and starts with the tokenizer's BOS when
the tokenizer adds one, so pretraining sees exactly the tokens that :mod:`mmalign.data.encoding`
(training) and ``mmalign.eval.generation`` (captioning) produce later; TRL's collator adds no special tokens.

With the default settings the base names every object of usual scenes and nothing else, but on
unusual ones (a member missing or swapped for another group's) 30–40 % of its greedy captions name
the group's absent member and 37–51 % name some absent object (CHAIRs; seeds 0–2): it has learnt
that members go together faster than it has learnt to check each one. Measure it with
``bench/world_base.py``.

The build is deterministic for (seed, world config, pretraining config), software stack and CPU
type: it runs on the CPU, on one thread, so float sums are done in one order whatever the number
of cores (another instruction set may round the last bits differently, and training can carry
that further; the measured behaviour holds across seeds, see ``bench/RESULTS.md``). It is
cached: a directory holding the same build is reused; the build is written aside and moved into
place (see :func:`mmalign.cache.build_cached`).
"""

from __future__ import annotations

import contextlib
import random
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..cache import build_cached
from ..tiny import build_tiny_vlm
from ..tiny.families import save_quietly
from .scenes import CAPTION_PROMPT, World, WorldConfig
from .vocab import COLOURS

__all__ = ["PretrainConfig", "build_world_vlm", "caption_prompt_prefix"]

_MARKER = "mmalign_world_model.json"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class PretrainConfig:
    """Sizes and schedules of the two pretraining steps.

    Attributes:
        num_scenes: training scenes, the first ones of the world's ``train`` stream (so
            ``write_world(..., num_train >= num_scenes)`` writes exactly the images seen here).
        vision_steps, vision_batch_size, vision_lr: step 1, the per-patch probe (Adam).
        caption_steps, batch_size, learning_rate, warmup_ratio: step 2, captioning (AdamW, cosine).
    """

    num_scenes: int = 4000
    vision_steps: int = 300
    vision_batch_size: int = 64
    vision_lr: float = 3e-3
    caption_steps: int = 800
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_ratio: float = 0.05


def build_world_vlm(
    output_dir: str | Path,
    seed: int = 0,
    world_config: WorldConfig | None = None,
    pretrain: PretrainConfig | None = None,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the pretrained base model of the world of ``seed`` in ``output_dir``.

    The directory loads with ``AutoModelForImageTextToText.from_pretrained`` and
    ``AutoProcessor.from_pretrained``, like any Hub model. ``seed`` fixes the world's scenes, the
    weight initialisation and the data order. ``progress`` shows tqdm bars for both steps.
    """
    world_config = world_config or WorldConfig()
    pretrain = pretrain or PretrainConfig()
    import torch
    import transformers

    spec = {
        "format_version": _FORMAT_VERSION,
        "seed": int(seed),
        "world": world_config.to_dict(),
        "pretrain": asdict(pretrain),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    return build_cached(
        output_dir,
        spec,
        lambda tmp: _build_into(tmp, int(seed), world_config, pretrain, progress),
        marker=_MARKER,
        what="world model build",
    )


def caption_prompt_prefix(processor: Any, prompt: str = CAPTION_PROMPT) -> str:
    """The text before a caption: the chat-formatted user turn with one image, up to where the
    assistant's answer starts, with the BOS token first when the tokenizer adds one."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    tokenizer = processor.tokenizer
    ids = tokenizer("x", add_special_tokens=True)["input_ids"]
    if tokenizer.bos_token is not None and ids and ids[0] == tokenizer.bos_token_id and not text.startswith(tokenizer.bos_token):
        text = tokenizer.bos_token + text
    return text


def _build_into(path: Path, seed: int, world_config: WorldConfig, cfg: PretrainConfig, progress: bool) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    world = World(seed, world_config)
    init = build_tiny_vlm("llava", path / "init", corpus=world.corpus(), seed=seed)
    model = AutoModelForImageTextToText.from_pretrained(init)
    processor = AutoProcessor.from_pretrained(init)
    _check_grid(model, world)
    scenes = world.scenes("train", cfg.num_scenes)
    images = [world.render(s) for s in scenes]
    with _preserved_rng_state(), _one_thread():
        _pretrain_vision(model, processor, world, scenes, images, cfg, seed, progress)
        _pretrain_captions(model, processor, world, scenes, images, cfg, seed, progress, path / "trainer")
    shutil.rmtree(path / "init")
    shutil.rmtree(path / "trainer", ignore_errors=True)
    model.eval()
    save_quietly(model, processor, path)


def _check_grid(model: Any, world: World) -> None:
    vision = model.config.vision_config
    patches = vision.image_size // vision.patch_size
    if world.config.grid != patches:
        raise ValueError(
            f"the world's grid ({world.config.grid} cells a side) must match the vision tower's "
            f"{patches} patches a side, so that each object lies in one patch"
        )


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Train on one thread: the matrices are too small to gain from more (on a busy machine more
    threads are many times slower), and a fixed thread count fixes the order of float sums, so the
    build gives the same weights whatever the number of cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _preserved_rng_state() -> Iterator[None]:
    """The Trainer reseeds Python's, NumPy's and torch's global generators; give the caller back
    the states it had."""
    import numpy as np
    import torch

    states = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.random.set_rng_state(states[2])


def _pretrain_vision(model, processor, world, scenes, images, cfg: PretrainConfig, seed: int, progress: bool) -> None:
    """Step 1: per-patch category and colour probes on the tower's projector-input features."""
    import torch
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    grid, colours = world.config.grid, list(COLOURS)
    category_labels = torch.zeros(len(scenes), grid * grid, dtype=torch.long)  # 0: empty cell
    colour_labels = torch.zeros(len(scenes), grid * grid, dtype=torch.long)
    for i, scene in enumerate(scenes):
        for obj in scene.objects:
            category_labels[i, obj.row * grid + obj.col] = 1 + world.categories.index(obj.category)
            colour_labels[i, obj.row * grid + obj.col] = 1 + colours.index(obj.colour)
    pixels = processor.image_processor(images, return_tensors="pt")["pixel_values"]
    tower = model.model.vision_tower
    hidden = tower.config.hidden_size
    category_head = torch.nn.Linear(hidden, 1 + len(world.categories))
    colour_head = torch.nn.Linear(hidden, 1 + len(colours))
    params = [*tower.parameters(), *category_head.parameters(), *colour_head.parameters()]
    optimizer = torch.optim.Adam(params, lr=cfg.vision_lr)
    layer = model.config.vision_feature_layer
    generator = torch.Generator().manual_seed(seed)
    tower.train()
    for _ in tqdm(range(cfg.vision_steps), desc="vision tower", disable=not progress):
        idx = torch.randint(0, len(scenes), (cfg.vision_batch_size,), generator=generator)
        features = tower(pixels[idx], output_hidden_states=True).hidden_states[layer][:, 1:]  # drop CLS
        loss = torch.nn.functional.cross_entropy(
            category_head(features).flatten(0, 1), category_labels[idx].flatten()
        ) + torch.nn.functional.cross_entropy(colour_head(features).flatten(0, 1), colour_labels[idx].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    tower.eval()
    tower.requires_grad_(False)


def _pretrain_captions(
    model, processor, world, scenes, images, cfg: PretrainConfig, seed: int, progress: bool, scratch: Path
) -> None:
    """Step 2: supervised captioning with TRL's SFTTrainer (projector and language model)."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    from ..trainers.base import activation_checkpointing

    prefix = caption_prompt_prefix(processor)
    eos = processor.tokenizer.eos_token
    samples = [
        {"prompt": prefix, "completion": " " + world.caption(s) + eos, "images": [image]}
        for s, image in zip(scenes, images)
    ]
    data = datasets.Dataset.from_list(samples)
    args = SFTConfig(
        output_dir=str(scratch),
        max_steps=cfg.caption_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,
        weight_decay=0.0,
        max_length=None,  # nothing to truncate: captions are short, and image tokens must stay whole
        **activation_checkpointing(False),
        logging_strategy="no",
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=True,  # TRL's default, stated: bf16 autocast on the CPU as well
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        disable_tqdm=not progress,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=processor)
    try:
        trainer.train()
    finally:
        # The build runs inside other jobs (``recipe=tiny`` trains right after it, in the same
        # process): leave no accelerator set-up (SFTConfig's bf16 autocast) behind for them.
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state()
