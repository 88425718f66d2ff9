"""The fast path gives the plain path's loss and LoRA gradients (float32, 1e-5 relative).

Each case builds one trainer on a tiny model whose LoRA adapters hold random non-zero weights (so
policy and reference differ and every term of every loss is live), then computes the loss and the
adapter gradients twice on the same batch: through the fast path (media once, shared prefixes,
chunked logits) and through the plain path (every row forwarded separately, full logits).
"""

from __future__ import annotations

import pytest
import torch

from mmalign.config import build_setup
from mmalign.data.dataset import MediaOptions, PairDataset
from mmalign.data.readers import conversation_from_dict, pair_from_dict
from mmalign.fastpath import fast_path_unsupported, score_fast
from mmalign.fastpath.heads import score_hidden
from mmalign.fastpath.layout import block_mask_allowed, shared_prefix_layout
from mmalign.losses import token_kl, token_logps
from mmalign.models import load_model, load_processor
from mmalign.trainers import METHODS

COLORS = ["red", "green", "blue", "yellow"]


def _records(tmp_path, media: str) -> tuple[list, list]:
    """Four pairs and four reference samples. ``media``: image, video, or mixed (image and
    text-only pairs in one batch). Pairs 0 and 2 differ from their first response token."""
    from mmalign.data.media import write_video
    from mmalign.tiny import make_image

    pairs, refs = [], []
    for i in range(4):
        other = COLORS[(i + 1) % 4]
        if i % 2 == 0:
            chosen, rejected = f"<MASK>{COLORS[i]}</MASK> shape moves.", f"<MASK>{other}</MASK> shape moves."
        else:
            chosen = f"A <MASK>{COLORS[i]}</MASK> shape <MASK>moves left</MASK>."
            rejected = f"A <MASK>{other}</MASK> shape <MASK>stays still</MASK>."
        record = {"id": f"p{i}", "prompt": "Describe it.", "chosen": chosen, "rejected": rejected}
        ref = {"id": f"r{i}", "prompt": "What color is it?", "response": f"It is {COLORS[i]}."}
        if media == "video":
            frames = torch.randint(0, 255, (4, 56, 56, 3), generator=torch.Generator().manual_seed(i), dtype=torch.uint8)
            record["video"] = ref["video"] = str(write_video(tmp_path / f"clip{i}.mp4", frames.numpy()))
        elif media == "image" or i % 2 == 0:
            make_image(i).save(tmp_path / f"img{i}.png")
            record["images"] = ref["images"] = [f"img{i}.png"]
        pairs.append(pair_from_dict(record, source=f"mem:{i}"))
        refs.append(conversation_from_dict(ref, "canonical", f"mem:{i}", ref["id"]))
    return pairs, refs


def _trainer(model_dir, tmp_path, method, media, with_refs=False, **overrides):
    values = {
        "model": str(model_dir),
        "method": method,
        "output_dir": str(tmp_path / "out"),
        "use_cpu": True,
        "report_to": "none",
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "max_length": 512,
        **overrides,
    }
    setup = build_setup(values)
    processor = load_processor(setup.model)
    pairs, refs = _records(tmp_path, media)
    dataset = PairDataset(pairs, refs if with_refs else None, MediaOptions(str(tmp_path), num_frames=4))
    torch.manual_seed(0)
    model = load_model(setup.model)
    with torch.no_grad():  # non-zero adapters: the policy differs from the reference
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.2)
    _, trainer_cls, _ = METHODS[method]
    trainer = trainer_cls(model=model, args=setup.training, train_dataset=dataset, processing_class=processor)
    return trainer, trainer.data_collator([dataset[i] for i in range(4)])


def _left_padded(encoded: dict) -> dict:
    """The same batch with every row's padding moved to its left."""
    out = {"inputs": dict(encoded["inputs"])}
    mask = encoded["inputs"]["attention_mask"]
    shifts = (mask.shape[1] - mask.sum(1)).tolist()

    def roll(t):
        return torch.stack([row.roll(s, 0) for row, s in zip(t, shifts)])

    for key, value in encoded["inputs"].items():
        if torch.is_tensor(value) and value.shape[:2] == mask.shape:
            out["inputs"][key] = roll(value)
    out["response_mask"], out["phrase_ids"] = roll(encoded["response_mask"]), roll(encoded["phrase_ids"])
    return out


def _loss_and_grads(trainer, batch, fast: bool):
    trainer.fast_path = fast
    model = trainer.model
    model.train()
    model.zero_grad()
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.detach(), grads


def _assert_same(trainer, batch):
    slow_loss, slow_grads = _loss_and_grads(trainer, batch, fast=False)
    fast_loss, fast_grads = _loss_and_grads(trainer, batch, fast=True)
    assert torch.isfinite(slow_loss) and float(slow_loss) != 0.0
    torch.testing.assert_close(fast_loss, slow_loss, rtol=1e-5, atol=1e-7)
    assert slow_grads and any(bool(g.abs().sum() > 0) for g in slow_grads.values())
    for name, grad in slow_grads.items():
        scale = float(grad.abs().max())
        torch.testing.assert_close(fast_grads[name], grad, rtol=1e-5, atol=1e-5 * scale + 1e-9, msg=name)


CASES = [
    ("llava", "image"),
    ("llava", "mixed"),
    ("qwen2_vl", "image"),
    ("qwen2_vl", "video"),
    ("qwen2_vl", "mixed"),
    ("llava_onevision", "image"),
    ("llava_onevision", "video"),
]
METHOD_CASES = [
    ("dpa", {}, True),
    ("dpa", {}, False),  # KL on the chosen responses: a reference forward over the shared layout
    ("rrpo", {"alpha": 0.5}, False),
    ("dpo", {}, False),
    ("ddpo", {"gamma": 3.0}, False),
    ("tdpo", {"variant": "tdpo1"}, False),
]


@pytest.mark.parametrize("family,media", CASES)
@pytest.mark.parametrize("padding", ["right", "left"])
def test_fast_path_matches_plain_path(tiny_model_dir, tmp_path, family, media, padding):
    model_dir = tiny_model_dir(family)
    for method, overrides, with_refs in METHOD_CASES:
        trainer, batch = _trainer(model_dir, tmp_path, method, media, with_refs, **overrides)
        assert trainer.fast_path and trainer.share_prefix
        if padding == "left":
            batch = {k: _left_padded(v) for k, v in batch.items()}
        _assert_same(trainer, batch)


def test_shared_layout_forwards_each_prefix_once_and_encodes_media_once(tiny_model_dir, tmp_path):
    trainer, batch = _trainer(tiny_model_dir("llava"), tmp_path, "dpo", "image")
    model = trainer.model
    tower = model.get_base_model().model.vision_tower
    calls = []
    handle = tower.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    try:
        scores = score_fast(model, batch["pair"], lambda: trainer._reference_policy(model))
    finally:
        handle.remove()
    assert calls == [4]  # one run, one image per pair
    layout = scores.layout
    pair_mask = batch["pair"]["inputs"]["attention_mask"]
    lengths = pair_mask.sum(1)
    ids = batch["pair"]["inputs"]["input_ids"]
    for b in range(4):
        c, r = ids[b, : lengths[b]], ids[4 + b, : lengths[4 + b]]
        n = min(len(c), len(r))
        prefix = int((c[:n] != r[:n]).nonzero()[0, 0])
        assert int(layout.attention_mask[b].sum()) == len(c) + len(r) - prefix
    assert layout.forwarded_tokens < int(pair_mask.sum())


def test_block_mask_hides_the_other_continuation():
    # one pair: prefix [5, 6], chosen continuation [7], rejected continuation [8, 9]
    ids = torch.tensor([[5, 6, 7, 0], [5, 6, 8, 9]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    response = torch.tensor([[0, 0, 1, 0], [0, 0, 1, 1]], dtype=torch.bool)
    layout = shared_prefix_layout(ids, mask, positions, response, pad_token_id=0)
    assert layout.input_ids.tolist() == [[5, 6, 7, 8, 9]]
    assert layout.position_ids.tolist() == [[0, 1, 2, 2, 3]]
    allowed = block_mask_allowed(layout.segments)[0, 0].int().tolist()
    assert allowed == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
        [1, 1, 0, 1, 0],
        [1, 1, 0, 1, 1],
    ]
    # tokens 7 and 8 are both predicted at column 1 (computed once); 9 at column 3
    assert layout.source_cols.tolist() == [1, 3]
    assert layout.token_labels.tolist() == [7, 8, 9]
    assert layout.token_source.tolist() == [0, 0, 1]


def test_chunked_head_matches_full_logits():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    hidden = torch.randn(7, 8, requires_grad=True)
    ref_hidden = torch.randn(7, 8)
    source = torch.tensor([0, 0, 1, 3, 3, 4, 6])
    labels = torch.randint(0, 50, (7,))
    scores = score_hidden(hidden, source, labels, head, ref_hidden, head, chunk_size=3)
    logits, ref_logits = head(hidden)[source][None], head(ref_hidden)[source][None]
    torch.testing.assert_close(scores.policy_logps, token_logps(logits, labels[None])[0])
    torch.testing.assert_close(scores.reference_logps, token_logps(ref_logits, labels[None])[0])
    full_kl = token_kl(head(hidden)[None], head(ref_hidden)[None], torch.ones(1, 7, dtype=torch.bool))
    torch.testing.assert_close(scores.kl.sum(), full_kl[0])
    (scores.policy_logps.sum() + scores.kl.sum()).backward()
    chunked = hidden.grad.clone()
    hidden.grad = None
    (token_logps(logits, labels[None]).sum() + full_kl.sum()).backward()
    torch.testing.assert_close(chunked, hidden.grad)


def test_fast_path_is_ruled_out_when_the_projector_trains(tiny_model_dir, tmp_path, caplog):
    model_dir = tiny_model_dir("llava")
    trainer, _ = _trainer(model_dir, tmp_path, "dpo", "image", train_projector=True)
    assert not trainer.fast_path
    assert "projector" in fast_path_unsupported(trainer.model)


def test_fast_path_false_uses_the_plain_path(tiny_model_dir, tmp_path):
    trainer, _ = _trainer(tiny_model_dir("llava"), tmp_path, "dpo", "image", fast_path=False)
    assert not trainer.fast_path


def test_a_zero3_partitioned_head_runs_once_per_forward():
    # ZeRO-3 gathers a partitioned weight at every call, a collective every process must make
    # equally often: the head then runs once over all scored positions, whatever the chunk size.
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    head.weight.ds_id = 0  # what DeepSpeed ZeRO-3 puts on the parameters it partitions
    calls = []
    head.register_forward_hook(lambda m, a, o: calls.append(o.shape[0]))
    hidden = torch.randn(7, 8, requires_grad=True)
    source = torch.arange(7)
    labels = torch.randint(0, 50, (7,))
    scores = score_hidden(hidden, source, labels, head, chunk_size=3)
    scores.policy_logps.sum().backward()
    assert calls == [7]
    torch.testing.assert_close(scores.policy_logps, token_logps(head(hidden)[None], labels[None])[0])
