"""A minimal DPA loop, written plainly with transformers and peft (no mmalign trainer code), to check
the trainer against on the procedural world.

    python bench/dpa_reference_loop.py --seed 0 --steps 600 --batch 16 --alpha 0.1 --lr 2e-3 --out DIR

L = L_a + α·L_d (HALVA, arXiv 2405.18654): L_a = mean over the batch's tagged phrases of
−log σ(log π(y⁺ᵢ) − log π(y⁻ᵢ)); L_d = Σ_t KL(π_ref ‖ π_θ) over the response tokens of one
reference caption per pair (the base with the adapter switched off is π_ref), averaged over the
batch. Defaults are the loop of the comparison: LoRA r=16 on q/k/v/o, AdamW at a constant learning
rate, the end-of-turn token ``</s>`` scored, reference captions drawn with replacement. Each flag
below moves one of those towards the trainer's choice, for the ablation in bench/RESULTS.md.
The world's own files (base model, ``halva_world`` pairs, reference captions) are the data; the
adapter is then scored by the world comparison (CHAIR on held-out scenes, token KL to the base).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TAG = re.compile(r"<MASK>(.*?)</MASK>", re.S)


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Encoder:
    """Chat-formatted prompt + response → token ids, pixel values, and per-token phrase index."""

    def __init__(self, processor, root: Path, end_of_turn: bool):
        from PIL import Image

        self.processor, self.tok, self.root, self.end_of_turn = processor, processor.tokenizer, root, end_of_turn
        self.image_id = self.tok.convert_tokens_to_ids(processor.image_token)
        probe = processor(text=processor.image_token, images=Image.new("RGB", (32, 32)), return_tensors="pt")
        self.image_tokens = int((probe["input_ids"] == self.image_id).sum())

    def __call__(self, prompt: str, image: str, tagged: str) -> dict:
        from PIL import Image

        user = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        prefix = self.processor.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
        prefix = prefix.replace(self.processor.image_token, self.processor.image_token * self.image_tokens) + " "
        text, spans, start = prefix, [], len(prefix)
        for piece in re.split(r"(<MASK>.*?</MASK>)", tagged):
            inner = TAG.fullmatch(piece)
            if inner:
                spans.append((len(text), len(text) + len(inner.group(1))))
                piece = inner.group(1)
            text += piece
        end = len(text)
        text += self.tok.eos_token
        enc = self.tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc["input_ids"], enc["offset_mapping"]
        scored = [s >= start and (e <= end or (self.end_of_turn and s >= end)) and e > s for s, e in offsets]
        phrase = [next((k for k, (a, b) in enumerate(spans) if s < b and e > a), -1) if ok else -1
                  for ok, (s, e) in zip(scored, offsets)]
        pixels = self.processor.image_processor(Image.open(self.root / image).convert("RGB"), return_tensors="pt")["pixel_values"]
        return {"ids": torch.tensor(ids), "scored": torch.tensor(scored, dtype=torch.long), "phrase": torch.tensor(phrase), "pixels": pixels[0]}


def collate(items: list[dict], pad_id: int) -> dict:
    width = max(len(x["ids"]) for x in items)

    def pad(key, value):
        return torch.stack([F.pad(x[key], (0, width - len(x[key])), value=value) for x in items])

    ids = pad("ids", pad_id)
    return {"input_ids": ids, "attention_mask": pad("ids", -1) != -1, "scored": pad("scored", 0).bool(),
            "phrase": pad("phrase", -1), "pixel_values": torch.stack([x["pixels"] for x in items])}


def token_logps(model, batch: dict) -> torch.Tensor:
    """Log-softmax of the next-token distribution predicting each token (position 0 gets zeros)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"].long(),
                   pixel_values=batch["pixel_values"]).logits.float()
    return F.pad(logits[:, :-1].log_softmax(-1), (0, 0, 1, 0))


def phrase_logps(logps: torch.Tensor, batch: dict, count: int) -> torch.Tensor:
    """B × count matrix: log π of each phrase's tokens, summed."""
    taken = logps.gather(-1, batch["input_ids"].unsqueeze(-1)).squeeze(-1)
    return torch.stack([(taken * (batch["phrase"] == k)).sum(-1) for k in range(count)], dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--targets", choices=["attention", "all-linear"], default="attention")
    parser.add_argument("--schedule", choices=["constant", "cosine"], default="constant", help="cosine: 3 %% warm-up")
    parser.add_argument("--no-end-of-turn", action="store_true", help="do not score </s>")
    parser.add_argument("--slot-mean", action="store_true", help="L_a over the B×K slot matrix (empty slots count log 2)")
    parser.add_argument("--permuted-references", action="store_true", help="references as a seeded permutation")
    parser.add_argument("--eval-samples", type=int, default=None, help="held-out scenes per split (all 200 by default)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from mmalign.world.assets import prepare_world  # the world's files
    from mmalign.world.comparison import compare_on_world  # and its scoring

    assets = prepare_world(args.seed, progress=False)
    processor = AutoProcessor.from_pretrained(assets.base)
    model = AutoModelForImageTextToText.from_pretrained(assets.base, dtype=torch.float32)
    model.requires_grad_(False)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj"]
    if args.targets == "all-linear":
        targets += ["gate_proj", "up_proj", "down_proj"]
    lora = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                      target_modules=rf".*language_model.*\.({'|'.join(targets)})")
    model = get_peft_model(model, lora)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0)
    warmup = math.ceil(0.03 * args.steps)
    schedule = (lambda s: 1.0) if args.schedule == "constant" else (
        lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, args.steps - warmup))))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    encode = Encoder(processor, assets.root, end_of_turn=not args.no_end_of_turn)
    pairs = load_jsonl(assets.pairs)
    references = load_jsonl(assets.references)
    pad_id = processor.tokenizer.pad_token_id
    order: list[int] = []
    ref_order: list[int] = []
    model.train()
    for step in range(args.steps):
        if len(order) < args.batch:
            order += rng.sample(range(len(pairs)), len(pairs))
        chosen_idx, order = order[:args.batch], order[args.batch:]
        if args.permuted_references:
            while len(ref_order) < args.batch:
                ref_order += rng.sample(range(len(references)), len(references))
            ref_idx, ref_order = ref_order[:args.batch], ref_order[args.batch:]
        else:
            ref_idx = [rng.randrange(len(references)) for _ in chosen_idx]
        batch_pairs = [pairs[i] for i in chosen_idx]
        sides = [encode(p["prompt"], p["images"][0], p["chosen"]) for p in batch_pairs]
        sides += [encode(p["prompt"], p["images"][0], p["rejected"]) for p in batch_pairs]
        pair_batch = collate(sides, pad_id)
        count = int(pair_batch["phrase"].max()) + 1
        scores = phrase_logps(token_logps(model, pair_batch), pair_batch, count)
        present = torch.stack([(pair_batch["phrase"] == k).any(-1) for k in range(count)], dim=1)[: args.batch]
        margins = scores[: args.batch] - scores[args.batch:]
        losses = -F.logsigmoid(margins)
        align = losses.mean() if args.slot_mean else losses[present].mean()

        refs = [references[i] for i in ref_idx]
        ref_batch = collate([encode(r["conversations"][0]["value"].replace("<image>\n", ""), r["image"],
                                    r["conversations"][1]["value"]) for r in refs], pad_id)
        policy = token_logps(model, ref_batch)
        with torch.no_grad(), model.disable_adapter():
            reference = token_logps(model, ref_batch)
        kl = (reference.exp() * (reference - policy)).sum(-1)
        kl = (kl * ref_batch["scored"]).sum(-1).mean()

        loss = align + args.alpha * kl
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step}: align {align.item():.4f} kl {kl.item():.4f}", flush=True)

    out = Path(args.out)
    model.save_pretrained(out)
    model.eval()
    result = compare_on_world(assets, str(assets.base), out, "loop", args.eval_samples)
    result["settings"] = vars(args)
    (out / "world_comparison.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
