"""activation_checkpointing=auto: decided from the shapes, said in one line, applied to the run."""

from __future__ import annotations

import logging

import torch

from mmalign.trainers.checkpointing import activation_bytes, resolve_activation_checkpointing
from test_fastpath import _trainer


def test_activation_estimate_counts_tokens_layers_and_widths(tiny_model_dir):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir("llava"))
    # tiny text model: hidden 64, MLP 128, 2 layers; float32
    assert activation_bytes(model, 10, torch.float32) == 10 * 2 * (16 * 64 + 6 * 128) * 4
    assert activation_bytes(model, 10, torch.bfloat16) == 10 * 2 * (16 * 64 + 6 * 128) * 2


def test_auto_turns_checkpointing_off_when_the_step_fits_and_on_when_not(tiny_model_dir, caplog):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir("llava"))
    cpu = torch.device("cpu")
    with caplog.at_level(logging.WARNING, logger="mmalign.trainers.checkpointing"):
        assert resolve_activation_checkpointing(model, cpu, rows=8, longest=1000) is False
        assert resolve_activation_checkpointing(model, cpu, rows=8, longest=10**9) is True
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "off" in lines[0] and "on" in lines[1]


def test_auto_setting_reaches_the_trainer_as_a_decision(tiny_model_dir, tmp_path):
    trainer, _ = _trainer(tiny_model_dir("llava"), tmp_path, "dpo", "image", activation_checkpointing="auto")
    assert trainer.args.activation_checkpointing is False
    assert trainer.args.gradient_checkpointing is False
