"""One preference step, side by side: mmalign's fast path, its plain path, TRL's DPOTrainer and the
official code pattern, on the same pairs, in one run.

    python bench/step.py                              # GPU when there is one (7B shapes), else CPU (reduced)
    python bench/step.py --results bench/RESULTS.md   # also append the table with machine and date
    python bench/step.py --dry-run                    # tiny shapes, one step each: checks the script

Needs torch, transformers, peft and accelerate (and mmalign); the TRL rows need trl (with datasets,
dill and multiprocess, all pure-Python wheels). Without trl those rows say so and "× TRL" is n/a.

Shapes. GPU: LLaVA-1.5-7B (CLIP ViT-L/14-336, 576 image tokens, Llama-2-7B) and Qwen2-VL-7B with
random bf16 weights (sizes from ``bench/gpu_smoke.py``), LoRA r=128 on every language-model linear
layer, SDPA. CPU: the same token counts (576 image tokens, a 64-token prompt, 128-token responses
whose first tagged phrase comes a few tokens in; videos of 336 px frames) on models reduced in width
and depth (hidden 256, 4 layers, a 1k vocabulary: the LM head's share of the work stays small, as
at 7B; LLaVA's attention 2 heads of 32, so that attention keeps a share of the work closer to the
7B model's than a uniform cut gives — Qwen2-VL ties head size to width, so its reduced shape
over-weights attention, which the shared prefix does not shrink), float32, LoRA r=16. Each step is four pairs (DPA: plus one reference sample per pair).

Contenders, per method:

- ``mmalign fast``: the method's trainer with ``fast_path=true`` (the default) and
  ``activation_checkpointing=auto`` (the recipes' setting; the table says what it chose);
- ``mmalign plain``: the same trainer with ``fast_path=false``: every row forwarded separately,
  media encoded in each forward, logits from the first response position on;
- ``TRL DPOTrainer`` (DPO only, images only: it takes no video): ``trl.DPOTrainer`` with its defaults
  (activation checkpointing on; bf16 on the GPU), LoRA through its ``peft_config``; and once more with
  checkpointing off, for reference;
- ``official pattern``: what the papers' code does — a frozen full copy as the reference, chosen and
  rejected concatenated in one policy forward and one reference forward (DPA: plus the reference
  samples under both), full logits at every position, the same loss functions.

Columns: step time median [min–max] over the timed optimizer steps (forward, backward, AdamW): GPU
wall clock, CUDA synchronised; CPU: the process's CPU seconds with torch on one thread, so that the
other jobs of a shared machine stay out of the numbers; × TRL = TRL's default step / this step, so higher is faster; tokens/s = real tokens
of the batch (both responses of each pair, DPA's reference samples, media tokens included) / median
step; peak memory (GPU: ``max_memory_allocated``; n/a on CPU); vision tower runs per step and the
images or videos they encode; LM tokens forwarded per step (rows × width, padding included, every
forward: policy and reference); the largest logits tensor built, in millions of values.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from gpu_smoke import SHAPES as GPU_SHAPES  # noqa: E402
from gpu_smoke import build_model, build_processor, describe  # noqa: E402

PAIRS = 4
PROMPT_TOKENS, RESPONSE_TOKENS = 64, 128

#: CPU shapes: the GPU shapes' token counts (336 px images and frames), reduced widths and depths
CPU_SHAPES: dict[str, dict[str, Any]] = {
    "llava": {
        "vision": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                       image_size=336, patch_size=14, projection_dim=64),
        "text": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=2,
                     num_key_value_heads=2, head_dim=32, vocab_size=0, max_position_embeddings=8192),
    },
    "qwen2_vl": {
        "vision": dict(depth=2, embed_dim=64, hidden_size=256, num_heads=2, mlp_ratio=2, patch_size=14,
                       spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        "text": dict(hidden_size=256, intermediate_size=1344, num_hidden_layers=4, num_attention_heads=4,
                     num_key_value_heads=2, vocab_size=0, max_position_embeddings=32768,
                     rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [8, 12, 12]}),
        "frame": 336,
    },
}  # fmt: skip
DRY_SHAPES = {family: GPU_SHAPES[family]["dry"] for family in GPU_SHAPES}

COLUMNS = ("method", "contender", "ckpt", "step (s) median [min–max]", "× TRL", "tokens/s", "peak GiB",
           "vision runs (items)", "LM tokens", "largest logits (M)")  # fmt: skip


@dataclass
class Machine:
    device: str
    dtype: torch.dtype
    size: str  # "gpu", "cpu" or "dry"
    warmup: int
    steps: int
    lora_r: int

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def shape(self, family: str) -> dict[str, Any]:
        return {"gpu": GPU_SHAPES[family]["full"], "cpu": CPU_SHAPES[family], "dry": DRY_SHAPES[family]}[self.size]

    def describe(self) -> str:
        if self.cuda:
            return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
        return f"CPU, {os.cpu_count()} cores, {platform.processor() or platform.machine()} (torch {torch.__version__})"


# what a step does -------------------------------------------------------------------------------------
@dataclass
class Counts:
    """Per-step work seen by hooks on the base model."""

    vision_runs: int = 0
    vision_items: int = 0
    lm_tokens: int = 0
    largest_logits: int = 0
    handles: list = field(default_factory=list)

    def reset(self) -> None:
        self.vision_runs = self.vision_items = self.lm_tokens = self.largest_logits = 0

    def attach(self, model: torch.nn.Module) -> Counts:
        from mmalign.scoring import base_model

        base = base_model(model)
        inner = base.model
        tower = getattr(inner, "vision_tower", None) or getattr(inner, "visual")

        def on_vision(module, args, kwargs):
            self.vision_runs += 1
            grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
            self.vision_items += int(grid.shape[0]) if grid is not None else int(args[0].shape[0])

        def on_lm(module, args, kwargs):
            embeds = kwargs.get("inputs_embeds")
            self.lm_tokens += int(embeds.shape[0] * embeds.shape[1])

        def on_head(module, args, output):
            self.largest_logits = max(self.largest_logits, output.numel())

        self.handles += [
            tower.register_forward_pre_hook(on_vision, with_kwargs=True),
            inner.language_model.register_forward_pre_hook(on_lm, with_kwargs=True),
            base.get_output_embeddings().register_forward_hook(on_head),
        ]
        return self

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()


@dataclass
class Result:
    method: str
    contender: str
    checkpointing: bool | None
    times: list[float] = field(default_factory=list)
    tokens: int = 0
    peak: float | None = None
    counts: Counts | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def measure(machine: Machine, result: Result, models: list[torch.nn.Module], step: Callable[[], None]) -> Result:
    """Time ``step``: wall clock (CUDA synchronised) on a GPU; on CPU the process's CPU time, with
    torch on one thread, so that other jobs on a shared machine do not enter the numbers."""
    counts = Counts()
    for model in models:
        counts.attach(model)
    sync = torch.cuda.synchronize if machine.cuda else (lambda: None)
    clock = time.perf_counter if machine.cuda else time.process_time
    if machine.cuda:
        torch.cuda.reset_peak_memory_stats()
    try:
        for i in range(machine.warmup + machine.steps):
            counts.reset()
            sync()
            start = clock()
            step()
            sync()
            if i >= machine.warmup:
                result.times.append(clock() - start)
    finally:
        counts.detach()
    result.counts = counts
    result.peak = torch.cuda.max_memory_allocated() / 2**30 if machine.cuda else None
    print(row(result, None), flush=True)
    return result


def adamw_step(loss_fn: Callable[[], torch.Tensor], model: torch.nn.Module) -> Callable[[], None]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)

    def step() -> None:
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


# data ---------------------------------------------------------------------------------------------------
def texts(tokenizer: Any, count: int) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) of about PROMPT_TOKENS and RESPONSE_TOKENS tokens; the responses
    differ in three tagged phrases, the first a few tokens in."""

    def take(words: list[str], tokens: int) -> str:
        out: list[str] = []
        while len(tokenizer(" ".join(out), add_special_tokens=False)["input_ids"]) < tokens:
            out.append(words[len(out) % len(words)])
        return " ".join(out[:-1])

    pool = " ".join(describe(i) for i in range(8)).split()
    prompt = take(pool, PROMPT_TOKENS) + "?"
    body = take(pool[7:], RESPONSE_TOKENS - 12).split()
    third = len(body) // 3
    parts = [body[:third], body[third : 2 * third], body[2 * third :]]
    chosen = " ".join(f"The <MASK>red</MASK> {' '.join(p)}" for p in parts)
    rejected = chosen.replace("<MASK>red</MASK>", "<MASK>blue</MASK>")
    return prompt, chosen, rejected


def write_media(root: Path, family: str, shape: dict[str, Any], frames: int) -> list[str]:
    from PIL import Image

    from mmalign.tiny import write_video

    names = []
    for i in range(PAIRS):
        if family == "llava":
            size = shape["vision"]["image_size"]
            pixels = (torch.rand(size, size, 3, generator=torch.Generator().manual_seed(i)) * 255).to(torch.uint8)
            Image.fromarray(pixels.numpy()).save(root / f"img{i}.png")
            names.append(f"img{i}.png")
        else:
            write_video(root / f"clip{i}_{frames}.mp4", num_frames=frames, size=shape["frame"])
            names.append(f"clip{i}_{frames}.mp4")
    return names


def records(processor: Any, family: str, media: list[str], root: Path) -> tuple[list[dict], list[dict]]:
    prompt, chosen, rejected = texts(processor.tokenizer, PAIRS)
    pairs, refs = [], []
    for i, name in enumerate(media):
        key = {"images": [name]} if family == "llava" else {"video": name}
        pairs.append({"id": f"p{i}", "prompt": prompt, "chosen": chosen, "rejected": rejected, **key})
        refs.append({"id": f"r{i}", "prompt": prompt, "response": chosen.replace("<MASK>", "").replace("</MASK>", ""), **key})
    return pairs, refs


# contenders ---------------------------------------------------------------------------------------------
METHOD_KEYS = {"dpa": {"alpha": 0.4}, "rrpo": {"alpha": 0.01, "beta": 0.1}, "dpo": {"beta": 0.1}, "tdpo": {"beta": 0.1}}


def base_and_processor(machine: Machine, family: str):
    shape = machine.shape(family)
    processor = build_processor(family, shape)
    torch.manual_seed(0)
    model = build_model(family, shape, processor.tokenizer, "sdpa", machine.device, machine.dtype)
    return model, processor


def lora_model(machine: Machine, model: torch.nn.Module) -> torch.nn.Module:
    from mmalign.models import ModelConfig, add_lora

    config = ModelConfig(model="random", lora_r=machine.lora_r, lora_alpha=2 * machine.lora_r, lora_dropout=0.0)
    return add_lora(model, config)


def mmalign_trainer(machine: Machine, method: str, model, processor, pairs, refs, root: Path, frames: int | None):
    from mmalign.data.dataset import MediaOptions, PairDataset, PreferenceCollator
    from mmalign.data.readers import conversation_from_dict, pair_from_dict
    from mmalign.trainers import METHODS

    config_cls, trainer_cls, _ = METHODS[method]
    args = config_cls(
        output_dir=str(root / "out"), per_device_train_batch_size=PAIRS, bf16=machine.cuda, use_cpu=not machine.cuda,
        report_to="none", disable_tqdm=True, max_length=8192, activation_checkpointing="auto",
        **METHOD_KEYS[method],
    )  # fmt: skip
    dataset = PairDataset(
        [pair_from_dict(r, source="bench", index=i) for i, r in enumerate(pairs)],
        [conversation_from_dict(r, "canonical", "bench", r["id"]) for r in refs] if method == "dpa" else None,
        MediaOptions(str(root), num_frames=frames),
    )
    collator = PreferenceCollator(processor, max_length=args.max_length)
    batch = collator([dataset[i] for i in range(PAIRS)])
    longest = max(int(part["inputs"]["attention_mask"].sum(1).max()) for part in batch.values())
    trainer = trainer_cls(model=model, args=args, train_dataset=dataset, processing_class=processor,
                          data_collator=collator, longest_sample=longest)  # fmt: skip
    batch = trainer._prepare_inputs(batch)
    if args.activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return trainer, batch


def real_tokens(batch: dict) -> int:
    return sum(int(part["inputs"]["attention_mask"].sum()) for part in batch.values())


def run_mmalign(machine, method, family, root, media, frames) -> list[Result]:
    model, processor = base_and_processor(machine, family)
    pairs, refs = records(processor, family, media, root)
    model = lora_model(machine, model)
    trainer, batch = mmalign_trainer(machine, method, model, processor, pairs, refs, root, frames)
    checkpointing = bool(trainer.args.activation_checkpointing)
    fast = trainer.fast_path
    results = []
    for name, use_fast in (("mmalign fast", True), ("mmalign plain", False)):
        if use_fast and not fast:
            results.append(Result(method, name, checkpointing, note="fast path ruled out"))
            continue
        trainer.fast_path = use_fast
        result = Result(method, name, checkpointing, tokens=real_tokens(batch))
        results.append(measure(machine, result, [model], adamw_step(lambda: trainer.compute_loss(model, batch), model)))
    release(trainer, model)
    return results


def run_official(machine, method, family, root, media, frames) -> Result:
    """The official code's pattern: frozen full copy, concatenated pair forward, full logits."""
    from mmalign import losses

    model, processor = base_and_processor(machine, family)
    pairs, refs = records(processor, family, media, root)
    reference = copy.deepcopy(model).eval().requires_grad_(False)
    model = lora_model(machine, model)
    trainer, batch = mmalign_trainer(machine, method, model, processor, pairs, refs, root, frames)
    trainer.fast_path = False
    checkpointing = bool(trainer.args.activation_checkpointing)

    def scores(net, part):
        logits = net(**part["inputs"], use_cache=False).logits[:, :-1]
        labels, mask = part["inputs"]["input_ids"][:, 1:], part["response_mask"][:, 1:]
        return logits, losses.token_logps(logits, labels, mask), part["phrase_ids"][:, 1:]

    def loss() -> torch.Tensor:
        logits, logps, phrases = scores(model, batch["pair"])
        n = logps.shape[0] // 2
        if method == "dpa":
            k = int(phrases.max())
            chosen, rejected = losses.phrase_logps(logps[:n], phrases[:n], k), losses.phrase_logps(logps[n:], phrases[n:], k)
            mask = losses.phrase_mask_from_ids(phrases[:n], k)
            ref_logits_policy, _, _ = scores(model, batch["reference"])
            with torch.no_grad():
                ref_logits, _, _ = scores(reference, batch["reference"])
            kl = losses.token_kl(ref_logits_policy, ref_logits, batch["reference"]["response_mask"][:, 1:])
            return losses.dpa_loss(chosen, rejected, mask, kl, METHOD_KEYS["dpa"]["alpha"])
        with torch.no_grad():
            ref_logits, ref_logps, _ = scores(reference, batch["pair"])
        beta = METHOD_KEYS[method]["beta"]
        if method == "dpo":
            out = losses.dpo_loss(logps[:n].sum(-1), logps[n:].sum(-1), ref_logps[:n].sum(-1), ref_logps[n:].sum(-1), beta)
            return out[0].mean()
        k = int(phrases.max())
        mask = losses.phrase_mask_from_ids(phrases[:n], k)
        kl = losses.token_kl(logits[:n], ref_logits[:n], batch["pair"]["response_mask"][:n, 1:])
        out = losses.rrpo_loss(
            losses.phrase_logps(logps[:n], phrases[:n], k), losses.phrase_logps(logps[n:], phrases[n:], k),
            losses.phrase_logps(ref_logps[:n], phrases[:n], k), losses.phrase_logps(ref_logps[n:], phrases[n:], k),
            mask, kl, beta, METHOD_KEYS["rrpo"]["alpha"],
        )  # fmt: skip
        return out[0].mean()

    result = Result(method, "official pattern", checkpointing, tokens=real_tokens(batch))
    measure(machine, result, [model, reference], adamw_step(loss, model))
    release(trainer, model, reference)
    return result


def run_trl(machine, family, root, media, checkpointing: bool | None) -> Result:
    """TRL's DPOTrainer with its defaults (``checkpointing=None``) or with checkpointing forced."""
    label = "TRL DPOTrainer" + ("" if checkpointing is None else f", checkpointing {'on' if checkpointing else 'off'}")
    try:
        import datasets
        import trl
        from peft import LoraConfig
    except ImportError as err:
        return Result("dpo", label, checkpointing, note=f"not run: {err.name} is not installed")
    from PIL import Image

    from mmalign.models import language_model_linear_names

    model, processor = base_and_processor(machine, family)
    pairs, _ = records(processor, family, media, root)
    plain = lambda text: text.replace("<MASK>", "").replace("</MASK>", "")  # noqa: E731
    rows = [
        {
            "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": p["prompt"]}]}],
            "chosen": [{"role": "assistant", "content": [{"type": "text", "text": plain(p["chosen"])}]}],
            "rejected": [{"role": "assistant", "content": [{"type": "text", "text": plain(p["rejected"])}]}],
            "images": [Image.open(root / p["images"][0]).convert("RGB")],
        }
        for p in pairs
    ]
    options = {} if checkpointing is None else {"gradient_checkpointing": checkpointing}
    if not machine.cuda:
        options["bf16"] = False
    args = trl.DPOConfig(
        output_dir=str(root / "trl"), beta=METHOD_KEYS["dpo"]["beta"], per_device_train_batch_size=PAIRS,
        max_length=None, report_to="none", use_cpu=not machine.cuda, disable_tqdm=True, **options,
    )  # fmt: skip
    peft = LoraConfig(r=machine.lora_r, lora_alpha=2 * machine.lora_r, lora_dropout=0.0,
                      target_modules=language_model_linear_names(model), task_type="CAUSAL_LM")  # fmt: skip
    train = datasets.Dataset.from_list(rows)
    trainer = trl.DPOTrainer(model=model, args=args, train_dataset=train, processing_class=processor, peft_config=peft)
    policy = trainer.model
    batch = trainer._prepare_inputs(trainer.data_collator([train[i] for i in range(PAIRS)]))
    if args.activation_checkpointing:
        policy.gradient_checkpointing_enable(gradient_checkpointing_kwargs=args.activation_checkpointing_kwargs)
    policy.train()
    tokens = int(batch["attention_mask"].sum())
    result = Result("dpo", label, bool(args.activation_checkpointing), tokens=tokens)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if machine.cuda and args.bf16 else contextlib.nullcontext()

    def loss():
        with autocast:
            return trainer.compute_loss(policy, batch)

    measure(machine, result, [policy], adamw_step(loss, policy))
    release(trainer, policy)
    return result


def release(*objects: Any) -> None:
    for obj in objects:
        accelerator = getattr(obj, "accelerator", None)
        if accelerator is not None:
            accelerator.free_memory()
    del objects
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# table --------------------------------------------------------------------------------------------------
def row(result: Result, trl_step: float | None) -> str:
    if not result.times:
        cells = [result.method, result.contender, "-", result.note] + ["-"] * (len(COLUMNS) - 4)
        return "| " + " | ".join(cells) + " |"
    c = result.counts
    ratio = f"{trl_step / result.median:.2f}" if trl_step else "n/a"
    ckpt = {None: "-", True: "on", False: "off"}[result.checkpointing]
    cells = [
        result.method,
        result.contender,
        ckpt,
        f"{result.median:.3f} [{min(result.times):.3f}–{max(result.times):.3f}]",
        ratio,
        f"{result.tokens / result.median:,.0f}",
        "n/a" if result.peak is None else f"{result.peak:.1f}",
        f"{c.vision_runs} ({c.vision_items})",
        f"{c.lm_tokens:,}",
        f"{c.largest_logits / 1e6:.1f}" if c.largest_logits else "chunked (fused head)",
    ]
    return "| " + " | ".join(cells) + " |"


def table(groups: list[tuple[str, list[Result], float | None]]) -> str:
    lines = []
    for title, results, trl_step in groups:
        lines += [f"**{title}**", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += [row(r, trl_step) for r in results]
        lines.append("")
    return "\n".join(lines)


def speedups(groups: list[tuple[str, list[Result], float | None]]) -> list[str]:
    """The ratios the fast path is judged by, computed from this run's medians."""
    out = []
    for title, results, trl_step in groups:
        by = {r.contender: r for r in results if r.times}
        fast, plain = by.get("mmalign fast"), by.get("mmalign plain")
        if fast and plain:
            out.append(f"- {title}: fast path {plain.median / fast.median:.2f}× the plain path"
                       + (f", {trl_step / fast.median:.2f}× TRL's DPOTrainer" if trl_step else ""))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", help="append the table, with machine and date, to this markdown file")
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes, one step each")
    parser.add_argument("--cpu", action="store_true", help="the CPU shapes even when a GPU is present")
    parser.add_argument("--methods", default="dpo,dpa,rrpo,tdpo")
    parser.add_argument("--frames", default="8,16,32", help="video rows (Qwen2-VL shape, RRPO); empty: none")
    parser.add_argument("--steps", type=int, help="timed steps (default: GPU 5, CPU 3)")
    parser.add_argument("--warmup", type=int, help="warm-up steps (default: GPU 2, CPU 1)")
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available() and not args.cpu and not args.dry_run
    size = "dry" if args.dry_run else "gpu" if cuda else "cpu"
    machine = Machine(
        device="cuda" if cuda else "cpu",
        dtype=torch.bfloat16 if cuda else torch.float32,
        size=size,
        warmup=args.warmup if args.warmup is not None else (2 if cuda else 0 if args.dry_run else 1),
        steps=args.steps or (5 if cuda else 1 if args.dry_run else 3),
        lora_r=128 if cuda else 16 if size == "cpu" else 4,
    )
    if not cuda:
        torch.set_num_threads(1)
    started = time.perf_counter()
    print(f"{machine.describe()}; shapes: {size}; {PAIRS} pairs per step", flush=True)
    methods = [m for m in args.methods.split(",") if m]
    groups = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shape = machine.shape("llava")
        images = write_media(root, "llava", shape, 0)
        trl_step = None
        for method in methods:
            results = []
            if method == "dpo":
                trl_default = run_trl(machine, "llava", root, images, None)
                trl_step = trl_default.median if trl_default.times else None
                results.append(trl_default)
                results.append(run_trl(machine, "llava", root, images, not trl_default.checkpointing if trl_default.times else False))
            results += run_mmalign(machine, method, "llava", root, images, None)
            if method in ("dpo", "dpa", "rrpo"):
                results.append(run_official(machine, method, "llava", root, images, None))
            groups.append((f"{method.upper()}, images (LLaVA-1.5-7B {'shape' if cuda else 'token counts'})", results, trl_step))
        video = machine.shape("qwen2_vl")
        for frames in [int(f) for f in args.frames.split(",") if f]:
            frames = min(frames, 4) if args.dry_run else frames
            clips = write_media(root, "qwen2_vl", video, frames)
            results = run_mmalign(machine, "rrpo", "qwen2_vl", root, clips, frames)
            results.append(run_official(machine, "rrpo", "qwen2_vl", root, clips, frames))
            groups.append((f"RRPO, {frames}-frame video (Qwen2-VL-7B {'shape' if cuda else 'token counts'})", results, None))
    text = table(groups)
    ratios = "\n".join(speedups(groups))
    elapsed = time.perf_counter() - started
    print("\n" + text + "\n" + ratios + f"\n\nwhole run: {elapsed:.0f} s", flush=True)
    if args.results:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        with open(args.results, "a", encoding="utf-8") as handle:
            handle.write(f"\n## Step time — {machine.describe()}, {size} shapes — {stamp}\n\n")
            handle.write(f"`python bench/step.py{' --dry-run' if args.dry_run else ''}`; whole run {elapsed:.0f} s.\n\n")
            handle.write(text + "\n" + ratios + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
