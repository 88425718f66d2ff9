"""Checkpoints a kill cannot leave half-written, resuming with no checkpoint yet, and no token in
anything a run writes."""

from __future__ import annotations

import logging

import pytest
import torch

from mmalign.checkpoints import STAGING_SUFFIX, last_complete_checkpoint, resolve_resume
from mmalign.config import build_setup
from mmalign.errors import ConfigError

TOKEN = "hf_secretTOKEN1234567890"


def _setup(tiny_model_dir, demo_data, output_dir, **over):
    values = {
        "model": str(tiny_model_dir("llava")), "method": "dpa", "train_file": str(demo_data / "pairs.jsonl"),
        "media_root": str(demo_data), "max_samples": 4, "use_cpu": True, "report_to": "none",
        "per_device_train_batch_size": 2, "learning_rate": 5e-3, "lora_r": 4, "lora_alpha": 8, "max_steps": 3,
        "logging_steps": 1, "save_strategy": "steps", "save_steps": 1, "disable_tqdm": True, "seed": 3,
        "output_dir": str(output_dir), **over,
    }
    return build_setup(values)


def _losses(trainer) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in trainer.state.log_history if "loss" in e}


def test_a_kill_while_writing_a_checkpoint_leaves_none_that_looks_valid(tiny_model_dir, demo_data, tmp_path, monkeypatch, caplog):
    from transformers import Trainer

    from mmalign.train import run

    full = _losses(run(_setup(tiny_model_dir, demo_data, tmp_path / "full")))
    save_rng_state = Trainer._save_rng_state

    def killed_at_step_2(self, output_dir):
        if self.state.global_step == 2:
            raise KeyboardInterrupt  # the process dies halfway through writing checkpoint-2
        save_rng_state(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_rng_state", killed_at_step_2)
    part = tmp_path / "part"
    with pytest.raises(KeyboardInterrupt):
        run(_setup(tiny_model_dir, demo_data, part))
    monkeypatch.undo()
    assert sorted(p.name for p in part.iterdir() if p.name.startswith("checkpoint")) == ["checkpoint-1", f"checkpoint-2{STAGING_SUFFIX}"]
    (part / "checkpoint-7").mkdir()  # an empty folder, as a kill left them before staging

    caplog.set_level(logging.INFO, logger="mmalign")
    resumed = run(_setup(tiny_model_dir, demo_data, part, resume_from_checkpoint="last"))
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"checkpoint-2{STAGING_SUFFIX}: a checkpoint whose writing was interrupted" in m for m in messages)
    assert any("checkpoint-7: an incomplete checkpoint" in m for m in messages)
    assert any(m == f"resuming from {part / 'checkpoint-1'}" for m in messages)
    # the resumed run repeats steps 2 and 3 exactly, and leaves only complete checkpoints
    for step in (2, 3):
        assert _losses(resumed)[step] == pytest.approx(full[step], rel=1e-5)
    assert not list(part.glob(f"*{STAGING_SUFFIX}"))
    assert all((part / f"checkpoint-{n}" / "trainer_state.json").is_file() for n in (1, 2, 3))


def test_resume_with_no_checkpoint_yet_starts_from_scratch(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mmalign")
    assert resolve_resume(True, tmp_path / "never-made") is None
    assert resolve_resume("last", tmp_path) is None
    assert "no checkpoint in" in caplog.text and "starting from scratch" in caplog.text
    assert resolve_resume(None, tmp_path) is None
    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(ConfigError, match="an incomplete checkpoint"):
        resolve_resume(str(tmp_path / "checkpoint-3"), tmp_path)
    with pytest.raises(ConfigError, match="no such checkpoint folder"):
        resolve_resume(str(tmp_path / "checkpoint-9"), tmp_path)
    for step in (3, 12):
        (tmp_path / f"checkpoint-{step}").mkdir(exist_ok=True)
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-20").mkdir()
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-12"  # by number, not by name


def test_the_hub_token_is_written_nowhere(tiny_model_dir, demo_data, tmp_path, monkeypatch):
    import mmalign.hub
    from mmalign.train import run

    pushed = {}
    monkeypatch.setattr(mmalign.hub, "push_folder", lambda folder, repo, private=None, token=None: pushed.update(token=token))
    out = tmp_path / "out"
    run(_setup(tiny_model_dir, demo_data, out, max_steps=2, push_to_hub=True, hub_model_id="me/model", hub_token=TOKEN))
    assert pushed == {"token": TOKEN}  # the push still gets it
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "training_args.bin" for p in files) and any("checkpoint-1" in str(p) for p in files)
    for path in files:
        assert TOKEN.encode() not in path.read_bytes(), path
    assert torch.load(out / "training_args.bin", weights_only=False).hub_token is None
