"""GPU smoke test and throughput table for mmalign's trainers, with nothing to download.

    python bench/gpu_smoke.py                             # one GPU: full-size shapes, under 8 minutes
    python bench/gpu_smoke.py --results bench/RESULTS.md  # also append the table with card and date
    python bench/gpu_smoke.py --dry-run                   # CPU, tiny shapes, seconds (CI runs this)

What it runs. A LLaVA-1.5-7B-shaped model (CLIP ViT-L/14-336 + Llama-2-7B shapes, 576 image tokens)
and a Qwen2-VL-7B-shaped one (16-frame 336 px videos) are built from their configurations with
random weights, directly on the GPU in bf16; tokenizers are trained on the fly
(:func:`mmalign.tiny.train_tokenizer`) and processors are made from configurations. Synthetic
images, videos and tagged pairs are written to a temporary folder and go through the real readers,
dataset, collator and trainers (DPA on the LLaVA shape with reference samples, RRPO on the Qwen2-VL
shape), with LoRA r=128 on every language-model linear layer, bf16, activation checkpointing and
AdamW: the papers' settings. Each configuration runs with PyTorch SDPA, and again with FlashAttention
2 (padding-free batching on, where the model allows it) when flash-attn is installed.

What it prints, one markdown row per configuration as soon as it finishes (a failure or an
out-of-memory error is a row too, and the next configuration still runs):

- step time: median over the measured optimizer steps (after warm-up), CUDA synchronised;
- tokens/s: real (unpadded) tokens of the step's batch (both responses of every pair, and DPA's
  reference samples), media tokens included, divided by the step time; the reference policy's
  forwards over the same rows are in the FLOPs, not counted again as tokens;
- peak memory: ``torch.cuda.max_memory_allocated`` over the configuration;
- MFU: model FLOPs per step / step time / the card's dense bf16 peak. Model FLOPs are counted per
  forward call from the actual shapes: 2·N per token for the language model's linear layers, 2·d·L²
  per layer and row for causal attention, 2·d·V per logit position computed, 2·N per token for the
  vision tower and projector (their attention is left out, about a tenth of theirs); forwards that
  build a graph are counted again twice for the backward (activation gradients only: the base
  weights are frozen, LoRA's own gradients are left out). Activation recomputation is not counted,
  as MFU's definition asks. With the fast path (the trainers' default) a forwarded row holds a
  pair's shared prefix and both continuations and counts at its full width; the LM head it runs in
  chunks outside the model's forward is left out (under 1 % at 7B). It is an estimate;
- check (rows with padding-free batching on): |loss with padding-free batching − padded loss| on
  the first batch, in eval mode, a numerical check of the packed (variable-length) path.

Peaks (dense bf16, TFLOPS): H100/H200 SXM 989, H100 NVL 835, H100 PCIe 756, A100 312, L40S 362;
other cards show MFU as n/a. ``--time-budget`` (default 420 s) skips configurations that would start
too late, so the whole run stays under 8 minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

#: dense bf16 peaks in TFLOPS by name fragment; the more specific names come first
PEAK_BF16_TFLOPS = (
    ("H100 NVL", 835.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("A100", 312.0), ("L40S", 362.0),
)  # fmt: skip

# Full sizes follow the published configurations of llava-hf/llava-1.5-7b-hf and
# Qwen/Qwen2-VL-7B-Instruct; dry-run sizes are tiny stand-ins with the same structure.
SHAPES: dict[str, dict[str, dict[str, Any]]] = {
    "llava": {
        "full": {
            "vision": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                           image_size=336, patch_size=14, projection_dim=768),
            "text": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                         num_key_value_heads=32, vocab_size=32064, max_position_embeddings=4096, rms_norm_eps=1e-5),
        },
        "dry": {
            "vision": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8, projection_dim=32),
            "text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, vocab_size=0, max_position_embeddings=4096),
        },
    },
    "qwen2_vl": {
        "full": {
            "vision": dict(depth=32, embed_dim=1280, hidden_size=3584, num_heads=16, mlp_ratio=4, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
            "text": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, rms_norm_eps=1e-6,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]}),
            "frame": 336, "frames": 16,
        },
        "dry": {
            "vision": dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
            "text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=0, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}),
            "frame": 56, "frames": 4,
        },
    },
}  # fmt: skip

COLUMNS = (
    "config", "attention", "padding-free", "pairs/step", "tokens/step", "step (s)", "tokens/s", "peak GiB", "MFU",
    "check", "note",
)  # fmt: skip


@dataclass
class Setting:
    """One row of the table."""

    family: str  # "llava" (images, DPA) or "qwen2_vl" (video, RRPO)
    attention: str
    padding_free: bool | str = False
    pairs: int = 4

    @property
    def name(self) -> str:
        return {"llava": "LLaVA-1.5-7B DPA", "qwen2_vl": "Qwen2-VL-7B RRPO video"}[self.family]

    def label(self, dry_run: bool) -> str:
        return f"{self.name} (tiny)" if dry_run else self.name


@dataclass
class FlopCounter:
    """Model FLOPs of the forwards (and implied backwards) seen by a hook on the model."""

    lm_params: int
    vision_params: int
    layers: int
    hidden: int
    vocab: int
    patch: int
    flops: float = 0.0
    tokens: int = 0
    active: bool = False  # switched on for the measured steps only

    def hook(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        if not self.active:
            return
        ids = kwargs.get("input_ids")
        if ids is None:
            return
        mask, positions = kwargs.get("attention_mask"), kwargs.get("position_ids")
        if torch.is_tensor(mask) and mask.dim() == 4:  # the fast path's shared-prefix rows
            lengths = [ids.shape[1]] * ids.shape[0]
        elif torch.is_tensor(mask):
            lengths = mask.sum(dim=-1).flatten().tolist()
        elif mask is None and positions is not None and positions.dim() == 2:  # packed: a position 0 starts each sample
            starts = (positions[0] == 0).nonzero().flatten().tolist() + [positions.shape[1]]
            lengths = [b - a for a, b in zip(starts, starts[1:])]
        else:
            lengths = [ids.shape[1]] * ids.shape[0]
        keep = kwargs.get("logits_to_keep", 0)
        kept = int(keep.numel()) if torch.is_tensor(keep) else (keep or ids.shape[1]) * ids.shape[0]
        patches = 0
        for key in ("pixel_values", "pixel_values_videos"):
            value = kwargs.get(key)
            if value is not None:
                # LLaVA: (images, 3, H, W) → (H/p)² + 1 tokens each; Qwen2-VL: one row per patch.
                if value.dim() == 4:
                    patches += value.shape[0] * ((value.shape[-1] // self.patch) ** 2 + 1)
                else:
                    patches += value.shape[0]
        forward = sum(2 * self.lm_params * n + 2 * self.layers * self.hidden * n * n for n in lengths)
        forward += 2 * self.hidden * self.vocab * kept
        training = torch.is_grad_enabled()
        backward = 2 * forward if training else 0  # activation gradients; vision is frozen
        self.flops += forward + backward + 2 * self.vision_params * patches

    def count_batch(self, batch: dict[str, Any]) -> None:
        """Real tokens of a training batch: both responses of every pair and the reference samples."""
        if self.active:
            self.tokens += sum(int(part["inputs"]["attention_mask"].sum()) for part in batch.values())


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return value
    return None


# tokenizer, processor, model -----------------------------------------------------------------------------
def build_processor(family: str, shape: dict[str, Any]) -> Any:
    import transformers

    from mmalign.tiny import _FAMILY_TOKENS, CHAT_TEMPLATES, train_tokenizer  # the tiny models' tokens

    named, extras, add_bos = _FAMILY_TOKENS[family]
    corpus = [describe(i) for i in range(64)] + QUESTIONS
    tokenizer = train_tokenizer(corpus, kind="bpe", vocab_size=1024, special_tokens=named,
                                extra_special_tokens=extras, add_bos_token=add_bos)  # fmt: skip
    template = CHAT_TEMPLATES[family]
    tokenizer.chat_template = template
    vision = shape["vision"]
    if family == "llava":
        size = vision["image_size"]
        image_processor = transformers.CLIPImageProcessor(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}, do_center_crop=True
        )
        return transformers.LlavaProcessor(
            image_processor=image_processor, tokenizer=tokenizer, patch_size=vision["patch_size"],
            vision_feature_select_strategy="default", num_additional_image_tokens=1, image_token="<image>",
            chat_template=template,
        )  # fmt: skip
    pixels = dict(min_pixels=shape["frame"] ** 2, max_pixels=shape["frame"] ** 2, patch_size=14,
                  temporal_patch_size=2, merge_size=2)  # fmt: skip
    return transformers.Qwen2VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(**pixels),
        video_processor=transformers.Qwen2VLVideoProcessor(**pixels, min_frames=2, max_frames=64, cap_pixels_per_frame=True),
        tokenizer=tokenizer,
        chat_template=template,
    )


def build_model(family: str, shape: dict[str, Any], tokenizer: Any, attention: str, device: str, dtype: torch.dtype):
    import transformers

    text = dict(shape["text"])
    text["vocab_size"] = max(text["vocab_size"], len(tokenizer))
    ids = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if family == "llava":
        vision = shape["vision"]
        config = transformers.LlavaConfig(
            vision_config=transformers.CLIPVisionConfig(**vision),
            text_config=transformers.LlamaConfig(**text, **ids, tie_word_embeddings=False),
            image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
            image_seq_length=(vision["image_size"] // vision["patch_size"]) ** 2,
            vision_feature_select_strategy="default", vision_feature_layer=-2, projector_hidden_act="gelu",
        )  # fmt: skip
        cls = transformers.LlavaForConditionalGeneration
    else:
        config = transformers.Qwen2VLConfig(
            text_config={**text, **ids}, vision_config=shape["vision"], tie_word_embeddings=False,
            image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
            video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
            vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
            vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
        )  # fmt: skip
        cls = transformers.Qwen2VLForConditionalGeneration
    with torch.device(device):  # random weights made where they will live, in their final dtype
        model = cls._from_config(config, dtype=dtype, attn_implementation=attention)
    model.config.use_cache = False
    return model


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(language-model linear parameters, vision tower + projector parameters) of the base model."""
    from mmalign.models import PROJECTOR_NAMES, VISION_TOWER_NAMES, _is_under

    lm = vision = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or "lora_" in name or name.endswith("lm_head"):
            continue
        count = module.weight.numel()
        if _is_under(name, VISION_TOWER_NAMES + PROJECTOR_NAMES):
            vision += count
        else:
            lm += count
    for name, module in model.named_modules():  # Qwen2-VL's patch embedding is a Conv3d
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)) and _is_under(name, VISION_TOWER_NAMES):
            vision += module.weight.numel()
    return lm, vision


# synthetic data -----------------------------------------------------------------------------------------------
QUESTIONS = ["Describe the image in detail.", "What is happening in the video?", "What color is the shape?"]
COLORS = ("red", "green", "blue", "yellow")
SHAPES_WORDS = ("circle", "square", "triangle")


def describe(seed: int, tag: str | None = None, swap: bool = False) -> str:
    rng = random.Random(seed)
    color, shape = rng.choice(COLORS), rng.choice(SHAPES_WORDS)
    if swap:
        color = COLORS[(COLORS.index(color) + 1) % len(COLORS)]
    first = f"<MASK>{color}</MASK>" if tag else color
    return (f"There is a {first} {shape} near the center of the picture, on a light background, next to a "
            f"small dark line. The {shape} is large and its edges are sharp. Nothing else is visible.")  # fmt: skip


def write_data(root: Path, family: str, shape: dict[str, Any], count: int) -> tuple[Path, Path | None]:
    """``count`` pairs (and DPA reference samples) under ``root``; every pair has the same texts, so
    every batch has the same number of tokens, and differs only in its image."""
    from PIL import Image

    from mmalign.data.jsonio import write_jsonl
    from mmalign.tiny import write_video

    pair = {"chosen": describe(0, tag="c"), "rejected": describe(0, tag="c", swap=True)}
    pairs, refs = [], []
    if family == "llava":
        size = shape["vision"]["image_size"]
        for i in range(count):
            rng = torch.Generator().manual_seed(i)
            pixels = (torch.rand(size, size, 3, generator=rng) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(root / f"img{i}.png")
            pairs.append({"id": f"p{i}", "prompt": QUESTIONS[0], **pair, "images": [f"img{i}.png"]})
            refs.append({"id": f"r{i}", "image": f"img{i}.png", "conversations": [
                {"from": "human", "value": "<image>\n" + QUESTIONS[2]}, {"from": "gpt", "value": describe(1)}]})  # fmt: skip
        write_jsonl(root / "refs.jsonl", refs)
    else:
        write_video(root / "clip.mp4", num_frames=shape["frames"], size=shape["frame"])
        for i in range(count):
            pairs.append({"id": f"p{i}", "prompt": QUESTIONS[1], **pair, "images": [], "video": "clip.mp4"})
    write_jsonl(root / "pairs.jsonl", pairs)
    return root / "pairs.jsonl", (root / "refs.jsonl" if refs else None)


# one configuration ---------------------------------------------------------------------------------------------
class StepTimer:
    """Times optimizer steps (CUDA synchronised) and switches FLOP counting on after warm-up."""

    def __init__(self, warmup: int, counter: FlopCounter, cuda: bool):
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer.sync()
                counter.active = state.global_step >= warmup
                timer.start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.sync()
                if state.global_step > warmup:
                    timer.times.append(time.perf_counter() - timer.start)

        self.callback = Callback()
        self.cuda, self.start, self.times = cuda, 0.0, []

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


def run_setting(setting: Setting, size: str, device: str, work: Path, steps: tuple[int, int]) -> dict[str, Any]:
    from mmalign.data.dataset import MediaOptions, PairDataset, PreferenceCollator
    from mmalign.data.readers import read_conversations, read_pairs
    from mmalign.models import ModelConfig, add_lora
    from mmalign.trainers import METHODS
    from mmalign.trainers.base import activation_checkpointing

    cuda = device == "cuda"
    shape = SHAPES[setting.family][size]
    method = "dpa" if setting.family == "llava" else "rrpo"
    processor = build_processor(setting.family, shape)
    root = work / setting.family
    root.mkdir(exist_ok=True)
    warmup, measured = steps
    train_file, ref_file = write_data(root, setting.family, shape, setting.pairs * (warmup + measured))
    dataset = PairDataset(
        read_pairs(train_file), read_conversations(ref_file) if ref_file else None,
        MediaOptions(str(root), num_frames=shape.get("frames")),
    )  # fmt: skip
    collator = PreferenceCollator(processor, max_length=4096)

    dtype = torch.bfloat16 if cuda else torch.float32
    model = build_model(setting.family, shape, processor.tokenizer, setting.attention, device, dtype)
    lm_params, vision_params = parameter_counts(model)
    text = model.config.get_text_config()
    patch = shape["vision"]["patch_size"]
    counter = FlopCounter(lm_params, vision_params, text.num_hidden_layers, text.hidden_size, text.vocab_size, patch)
    model.register_forward_pre_hook(counter.hook, with_kwargs=True)
    lora = ModelConfig(model="random", lora_r=128 if size == "full" else 8, lora_alpha=256 if size == "full" else 16)
    model = add_lora(model, lora)

    config_cls, trainer_cls, preset = METHODS[method]
    args = config_cls(
        output_dir=str(work / "out"), per_device_train_batch_size=setting.pairs, max_steps=warmup + measured,
        learning_rate=5e-6, lr_scheduler_type="constant", bf16=cuda, use_cpu=not cuda, **activation_checkpointing(cuda),
        padding_free=setting.padding_free, logging_steps=10_000, save_strategy="no", report_to="none",
        disable_tqdm=True, dataloader_num_workers=0, max_length=4096, seed=0, **preset,
    )  # fmt: skip
    timer = StepTimer(warmup, counter, cuda)
    trainer = trainer_cls(model=model, args=args, train_dataset=dataset, processing_class=processor,
                          data_collator=collator, callbacks=[timer.callback])  # fmt: skip
    compute_loss = trainer.compute_loss

    def counted_loss(model, inputs, *args, **kwargs):
        counter.count_batch(inputs)
        return compute_loss(model, inputs, *args, **kwargs)

    trainer.compute_loss = counted_loss
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # stdout is for the table
    check = "-"
    if trainer.padding_free:
        check = f"{padding_free_gap(trainer, collator, dataset):.2e}"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    step = statistics.median(timer.times)
    flops = counter.flops / measured
    tokens = counter.tokens / measured
    result = {
        "pairs/step": setting.pairs,
        "padding-free": "on" if trainer.padding_free else "off",
        "tokens/step": f"{tokens:.0f}",
        "step (s)": f"{step:.3f}",
        "tokens/s": f"{tokens / step:,.0f}",
        "peak GiB": f"{torch.cuda.max_memory_allocated() / 2**30:.1f}" if cuda else "n/a",
        "flops": flops / step,
        "check": check,
    }
    trainer.accelerator.free_memory()
    del trainer, model
    return result


@torch.no_grad()
def padding_free_gap(trainer: Any, collator: Any, dataset: Any) -> float:
    """|loss with padding-free batching − padded loss| on the first batch (no update)."""
    batch = collator([dataset[i] for i in range(trainer.args.per_device_train_batch_size)])
    batch = trainer._prepare_inputs(batch)
    model = trainer.model
    model.eval()
    with trainer.compute_loss_context_manager():
        packed = float(trainer.compute_loss(model, batch))
        trainer.padding_free = False
        padded = float(trainer.compute_loss(model, batch))
        trainer.padding_free = True
    model.train()
    trainer._metrics.clear()
    return abs(packed - padded)


# the table ---------------------------------------------------------------------------------------------------
def row(values: dict[str, Any]) -> str:
    return "| " + " | ".join(str(values.get(c, "")) for c in COLUMNS) + " |"


def settings_for(dry_run: bool, flash: bool) -> list[Setting]:
    if dry_run:
        # The packed path runs on SDPA here (same results, no savings), so CI exercises it too.
        return [
            Setting("llava", "sdpa", pairs=2), Setting("llava", "sdpa", True, pairs=2), Setting("qwen2_vl", "sdpa", pairs=2),
        ]  # fmt: skip
    found = [Setting("llava", "sdpa"), Setting("qwen2_vl", "sdpa", pairs=2)]
    if flash:
        found[1:1] = [Setting("llava", "flash_attention_2", "auto")]
        found.append(Setting("qwen2_vl", "flash_attention_2", "auto", pairs=2))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes, a few seconds")
    parser.add_argument("--results", type=Path, help="append the table (with card and date) to this markdown file")
    parser.add_argument("--time-budget", type=float, default=420.0, help="seconds; later configurations are skipped")
    parser.add_argument("--steps", type=int, default=4, help="measured optimizer steps per configuration (after 1 warm-up)")
    options = parser.parse_args(argv)
    if options.dry_run:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # DeepSpeed, when installed, would say so on stdout

    import importlib.util
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # an optional CPU kernel, irrelevant here
    cuda = torch.cuda.is_available() and not options.dry_run
    if not cuda and not options.dry_run:
        print("no CUDA device: run with --dry-run for the CPU check", file=sys.stderr)
        return 2
    device_name = torch.cuda.get_device_name() if cuda else "CPU (dry run, tiny shapes)"
    peak = peak_tflops(device_name) if cuda else None
    flash = cuda and importlib.util.find_spec("flash_attn") is not None
    started = time.monotonic()
    print(f"# mmalign GPU smoke — {device_name}, {dt.date.today().isoformat()}; torch {torch.__version__}, "
          f"flash-attn {'installed' if flash else 'absent'}; MFU against {f'{peak:.0f} TFLOPS' if peak else 'n/a'}\n")  # fmt: skip
    print(row({c: c for c in COLUMNS}))
    print("|" + "---|" * len(COLUMNS), flush=True)
    rows, failed = [], False
    per_setting = 90.0  # rough upper bound of one full-size configuration, for the budget check
    for setting in settings_for(options.dry_run, flash):
        values = {"config": setting.label(options.dry_run), "attention": setting.attention, "pairs/step": setting.pairs}
        if cuda and time.monotonic() - started + per_setting > options.time_budget:
            values["note"] = "skipped: time budget"
        else:
            t0 = time.monotonic()
            try:
                with tempfile.TemporaryDirectory() as work:
                    result = run_setting(setting, "dry" if options.dry_run else "full", "cuda" if cuda else "cpu",
                                         Path(work), (1, options.steps if cuda else 2))  # fmt: skip
                flops_per_s = result.pop("flops")
                values.update(result)
                values["MFU"] = f"{100 * flops_per_s / (peak * 1e12):.1f}%" if peak else "n/a"
                values["note"] = f"{time.monotonic() - t0:.0f} s"
            except torch.cuda.OutOfMemoryError:
                values["note"] = "out of memory"
            except Exception as err:  # noqa: BLE001 — one failed configuration must not stop the others
                failed = True
                message = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
                values["note"] = f"failed: {type(err).__name__}: {message}"
                traceback.print_exc(file=sys.stderr)
            gc.collect()  # the failed configuration's frames are gone by now, so its memory can go too
            if cuda:
                torch.cuda.empty_cache()
        rows.append(row(values))
        print(rows[-1], flush=True)
    if options.results:
        header = f"## {device_name} — {dt.date.today().isoformat()}"
        versions = json.dumps({"torch": torch.__version__, "flash_attn": flash})
        text = "\n".join([header, "", f"`python bench/gpu_smoke.py{' --dry-run' if options.dry_run else ''}`, {versions}", "",
                          row({c: c for c in COLUMNS}), "|" + "---|" * len(COLUMNS), *rows, ""])  # fmt: skip
        new = not options.results.exists()
        with options.results.open("a") as handle:
            if new:
                handle.write("# GPU smoke results\n\nTables appended by `bench/gpu_smoke.py --results bench/RESULTS.md`.\n\n")
            handle.write(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
