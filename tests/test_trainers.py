"""Trainers: each method lowers its loss, gradients stay where they belong, resume is exact."""

from __future__ import annotations

import math

import pytest
import torch

from mmalign.config import build_setup
from mmalign.data.dataset import MediaOptions, PairDataset, PreferenceCollator
from mmalign.data.readers import read_conversations, read_pairs
from mmalign.models import ModelConfig, frozen_reference, load_model, load_processor
from mmalign.trainers import METHODS


def make_trainer(model_dir, demo_data, tmp_path, method="dpa", use_peft=True, with_refs=True, **overrides):
    values = {
        "model": str(model_dir),
        "method": method,
        "output_dir": str(tmp_path / "out"),
        "use_cpu": True,
        "report_to": "none",
        "per_device_train_batch_size": 4,
        "learning_rate": 5e-3,
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "use_peft": use_peft,
        "max_length": 256,
        "save_strategy": "no",
        "disable_tqdm": True,
        **overrides,
    }
    setup = build_setup(values)
    processor = load_processor(setup.model)
    pairs = read_pairs(demo_data / "pairs.jsonl")[:8]
    refs = read_conversations(demo_data / "refs.jsonl") if with_refs else None
    dataset = PairDataset(pairs, refs, MediaOptions(str(demo_data)), seed=0)
    torch.manual_seed(0)
    model = load_model(setup.model)
    _, trainer_cls, _ = METHODS[method]
    trainer = trainer_cls(
        model=model,
        args=setup.training,
        train_dataset=dataset,
        processing_class=processor,
        ref_model=frozen_reference(model),
    )
    batch = trainer.data_collator([dataset[i] for i in range(4)])
    return trainer, batch


def optimise(trainer, batch, steps):
    """Plain optimisation steps on one fixed batch; returns the losses before each step."""
    model = trainer.model
    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=trainer.args.learning_rate)
    losses = []
    for _ in range(steps):
        loss = trainer.compute_loss(model, batch)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return losses


@pytest.mark.parametrize(
    "method,overrides",
    [
        ("dpa", {}),
        ("rrpo", {"alpha": 0.01, "beta": 0.1}),
        ("rrpo_seqreward", {}),
        ("rrpo_nokl", {}),
        ("dpo", {}),
        ("ddpo", {"beta": 2.0}),  # dense log-probs are per-token means: small margins at β = 0.1
        ("tdpo", {"variant": "tdpo1"}),
        ("tdpo", {"variant": "tdpo2"}),
    ],
)
def test_each_method_lowers_its_loss_on_a_fixed_batch(tiny_model_dir, demo_data, tmp_path, method, overrides):
    trainer, batch = make_trainer(tiny_model_dir("llava"), demo_data, tmp_path, method, **overrides)
    losses = optimise(trainer, batch, steps=8)
    assert all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] - 0.05, losses


def test_reference_methods_start_at_log2(tiny_model_dir, demo_data, tmp_path):
    # A fresh LoRA adapter (B = 0) leaves the policy equal to the reference: every reward is 0,
    # so the DPO loss is -log σ(0) = log 2 exactly.
    trainer, batch = make_trainer(tiny_model_dir("llava"), demo_data, tmp_path, "dpo")
    loss = trainer.compute_loss(trainer.model, batch)
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)


def test_lora_gradients_reach_only_adapters_and_reference_is_unchanged(tiny_model_dir, demo_data, tmp_path):
    trainer, batch = make_trainer(tiny_model_dir("llava"), demo_data, tmp_path, "rrpo")
    model = trainer.model
    with torch.no_grad():
        ref_before = trainer.reference_scores(model, batch["pair"]).token_logps.clone()
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad and all("lora_" in n for n in with_grad)
    assert not any("vision_tower" in n or "multi_modal_projector" in n for n, p in model.named_parameters() if p.requires_grad)
    optimise(trainer, batch, steps=3)
    for name, param in model.named_parameters():
        if name in frozen_before:
            assert torch.equal(param, frozen_before[name]), name
    with torch.no_grad():
        ref_after = trainer.reference_scores(model, batch["pair"]).token_logps
        policy_after = trainer.policy_scores(model, batch["pair"]).token_logps
    torch.testing.assert_close(ref_after, ref_before)
    assert not torch.allclose(policy_after, ref_before)


def test_full_finetuning_freezes_vision_and_keeps_a_frozen_reference(tiny_model_dir, demo_data, tmp_path):
    trainer, batch = make_trainer(tiny_model_dir("llava"), demo_data, tmp_path, "dpo", use_peft=False, learning_rate=1e-3)
    assert trainer.ref_model is not None and trainer.ref_model is not trainer.model
    ref_state = {n: p.detach().clone() for n, p in trainer.ref_model.named_parameters()}
    vision = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "vision_tower" in n or "projector" in n}
    assert vision and not any(p.requires_grad for n, p in trainer.model.named_parameters() if n in vision)
    losses = optimise(trainer, batch, steps=4)
    assert losses[-1] < losses[0]
    for name, param in trainer.ref_model.named_parameters():
        assert torch.equal(param, ref_state[name]), name
    for name, param in trainer.model.named_parameters():
        if name in vision:
            assert torch.equal(param, vision[name]), name


def test_dpa_kl_term_uses_reference_samples(tiny_model_dir, demo_data, tmp_path):
    trainer, batch = make_trainer(tiny_model_dir("llava"), demo_data, tmp_path, "dpa", alpha=1.0)
    assert "reference" in batch
    optimise(trainer, batch, steps=3)  # move the policy away from its base
    _, metrics = trainer.preference_loss(trainer.model, batch)
    # Independent KL on the reference rows: full-vocabulary KL(ref ‖ policy), summed over scored tokens.
    with torch.no_grad():
        policy = trainer.policy_scores(trainer.model, batch["reference"], keep_logits=True)
        reference = trainer.reference_scores(trainer.model, batch["reference"], keep_logits=True)
    p_ref = torch.softmax(reference.logits.double(), -1)
    kl = (p_ref * (p_ref.log() - torch.log_softmax(policy.logits.double(), -1))).sum(-1)
    expected = (kl * policy.response_mask).sum(-1).mean()
    assert metrics["kl"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert expected.item() > 0


def test_resumed_run_reproduces_the_uninterrupted_losses(tiny_model_dir, demo_data, tmp_path):
    from mmalign.train import run

    base = {
        "recipe": None,
        "model": str(tiny_model_dir("llava")),
        "method": "dpa",
        "train_file": str(demo_data / "pairs.jsonl"),
        "ref_file": str(demo_data / "refs.jsonl"),
        "media_root": str(demo_data),
        "max_samples": 16,
        "use_cpu": True,
        "report_to": "none",
        "per_device_train_batch_size": 2,
        "learning_rate": 5e-3,
        "lora_r": 8,
        "lora_alpha": 16,
        "max_steps": 6,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": 3,
        "disable_tqdm": True,
        "seed": 3,
    }
    full = run(build_setup({**base, "output_dir": str(tmp_path / "full")}))
    losses_full = {e["step"]: e["loss"] for e in full.state.log_history if "loss" in e}

    # Interrupted after step 3: the checkpoint of a run stopped there, then resumed to step 6.
    run(build_setup({**base, "output_dir": str(tmp_path / "part"), "max_steps": 6, "save_steps": 3}))
    resumed = run(
        build_setup(
            {**base, "output_dir": str(tmp_path / "part"), "resume_from_checkpoint": str(tmp_path / "part" / "checkpoint-3")}
        )
    )
    losses_resumed = {e["step"]: e["loss"] for e in resumed.state.log_history if "loss" in e}
    for step in (4, 5, 6):
        assert losses_resumed[step] == pytest.approx(losses_full[step], rel=1e-5), step


@pytest.mark.parametrize("family,method,media", [("qwen2_vl", "dpa", "image"), ("qwen2_vl", "rrpo", "video"), ("llava_onevision", "rrpo", "video")])
def test_other_families_train_on_images_and_video(tiny_model_dir, tmp_path, family, method, media):
    from mmalign.data.media import write_video
    from mmalign.data.readers import pair_from_dict
    from mmalign.tiny import make_image

    records = []
    for i in range(4):
        record = {
            "id": f"v{i}",
            "prompt": "What happens in the video?" if media == "video" else "Describe the image.",
            "chosen": f"A <MASK>{['red', 'green', 'blue', 'yellow'][i]}</MASK> shape <MASK>moves left</MASK>.",
            "rejected": f"A <MASK>{['blue', 'red', 'yellow', 'green'][i]}</MASK> shape <MASK>stays still</MASK>.",
        }
        if media == "video":
            frames = torch.randint(0, 255, (6, 56, 56, 3), generator=torch.Generator().manual_seed(i), dtype=torch.uint8)
            record["video"] = str(write_video(tmp_path / f"clip{i}.mp4", frames.numpy()))
        else:
            make_image(i).save(tmp_path / f"img{i}.png")
            record["images"] = [f"img{i}.png"]
        records.append(pair_from_dict(record, source=f"mem:{i}"))
    setup = build_setup(
        {"model": str(tiny_model_dir(family)), "method": method, "output_dir": str(tmp_path / "out"), "use_cpu": True,
         "report_to": "none", "learning_rate": 5e-3, "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0}
    )  # fmt: skip
    processor = load_processor(setup.model)
    dataset = PairDataset(records, None, MediaOptions(str(tmp_path), num_frames=4))
    torch.manual_seed(0)
    model = load_model(setup.model)
    _, trainer_cls, _ = METHODS[method]
    trainer = trainer_cls(model=model, args=setup.training, train_dataset=dataset, processing_class=processor)
    batch = trainer.data_collator([dataset[i] for i in range(4)])
    assert int(batch["pair"]["phrase_ids"].max()) == 2
    losses = optimise(trainer, batch, steps=6)
    assert losses[-1] < losses[0] - 0.05, losses


def test_disable_dropout_makes_train_mode_forwards_identical(tiny_model_dir, demo_data, tmp_path):
    # LoRA dropout 0.5 and the model's own attention dropout: live unless disable_dropout (the default)
    from transformers import AutoConfig

    path = tiny_model_dir("llava")
    config = AutoConfig.from_pretrained(path)
    config.text_config.attention_dropout = 0.3
    config.save_pretrained(tmp_path / "model")
    for name in path.iterdir():
        if name.name != "config.json":
            (tmp_path / "model" / name.name).symlink_to(name)
    forwards = {}
    for disable in (False, True):
        trainer, batch = make_trainer(
            tmp_path / "model", demo_data, tmp_path / str(disable), "dpa", lora_dropout=0.5, disable_dropout=disable
        )
        model = trainer.model.train()
        with torch.no_grad():
            forwards[disable] = [trainer.policy_scores(model, batch["pair"]).token_logps for _ in range(2)]
    assert not torch.equal(*forwards[False])  # dropout is live in train mode ...
    assert torch.equal(*forwards[True])  # ... and gone with disable_dropout
    assert all(m.p == 0.0 for m in trainer.model.modules() if isinstance(m, torch.nn.Dropout))


def test_dpa_trainer_official_reduction_equals_a_slot_loop(tiny_model_dir, demo_data, tmp_path):
    from mmalign.data.readers import pair_from_dict

    trainer, batch = make_trainer(tiny_model_dir("llava"), demo_data, tmp_path, "dpa", alpha=0.0)
    optimise(trainer, batch, steps=2)  # away from the base, so phrase margins are not all 0
    mixed = [  # 3 phrases and 1 phrase: the second pair has two empty slots
        {"id": "a", "prompt": "Describe.", "chosen": "A <MASK>red</MASK> <MASK>dog</MASK> on <MASK>grass</MASK>.",
         "rejected": "A <MASK>blue</MASK> <MASK>cat</MASK> on <MASK>sand</MASK>."},
        {"id": "b", "prompt": "Describe.", "chosen": "A <MASK>tree</MASK> by the road.",
         "rejected": "A <MASK>car</MASK> by the road."},
    ]  # fmt: skip
    dataset = PairDataset([pair_from_dict(r) for r in mixed])
    batch = {"pair": trainer.data_collator([dataset[0], dataset[1]])["pair"]}
    batch["reference"] = batch["pair"]  # any KL batch: alpha is 0
    loss, _ = trainer.preference_loss(trainer.model, batch)
    with torch.no_grad():
        scores = trainer.policy_scores(trainer.model, batch["pair"])
    n = scores.token_logps.shape[0] // 2
    # the official code: phrase sums by sign value k, a B x K matrix, empty slots 0 for both sides
    ids, logps = scores.phrase_ids, scores.token_logps.double()
    k_max = int(ids[:n].max())
    slots = []
    for b in range(n):
        for k in range(1, k_max + 1):
            pos = float((logps[b] * (ids[b] == k)).sum())
            neg = float((logps[n + b] * (ids[n + b] == k)).sum())
            slots.append(math.log(1 + math.exp(neg - pos)))
    assert len(set(int(ids[b].max()) for b in range(n))) > 1  # the batch mixes phrase counts
    assert loss.item() == pytest.approx(sum(slots) / len(slots), rel=1e-5)


def test_global_batch_size_sets_gradient_accumulation():
    from mmalign.errors import ConfigError

    setup = build_setup({"model": "m", "global_batch_size": 64, "per_device_train_batch_size": 4, "use_cpu": True})
    setup.training.apply_global_batch_size(num_processes=2)
    assert setup.training.gradient_accumulation_steps == 8
    assert "64 pairs per optimizer step (4 per device x 8 accumulation steps x 2 processes)" in (
        setup.training.effective_batch(2)
    )
    setup.training.apply_global_batch_size(num_processes=4)
    assert setup.training.gradient_accumulation_steps == 4
    with pytest.raises(ConfigError, match=r"global_batch_size=64 is not a multiple of .* processes \(3\)"):
        setup.training.apply_global_batch_size(num_processes=3)
    with pytest.raises(ConfigError, match="give one of them"):
        build_setup({"model": "m", "global_batch_size": 64, "gradient_accumulation_steps": 2, "use_cpu": True})
