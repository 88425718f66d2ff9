"""Saving, merging and pushing: the upload intercepted, the card parsed back, the adapter reloaded."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub import ModelCard
from peft import PeftModel
from transformers import AutoModelForImageTextToText

import mmalign.hub
from mmalign.train import main


class FakeApi:
    calls: list = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, private=None, exist_ok=False):
        FakeApi.calls.append(("create_repo", repo_id))

    def upload_folder(self, repo_id, folder_path, commit_message=None):
        FakeApi.calls.append(("upload_folder", repo_id, folder_path))


@pytest.fixture
def fake_hub(monkeypatch):
    FakeApi.calls = []
    monkeypatch.setattr(mmalign.hub, "HfApi", FakeApi)
    return FakeApi


def test_push_to_hub_uploads_adapter_with_a_model_card(tiny_model_dir, demo_data, tmp_path, fake_hub):
    out = tmp_path / "run"
    model_dir = tiny_model_dir("llava")
    code = main(
        [
            "recipe=tiny",
            f"model={model_dir}",
            f"train_file={demo_data / 'pairs.jsonl'}",
            f"ref_file={demo_data / 'refs.jsonl'}",
            f"media_root={demo_data}",
            f"output_dir={out}",
            "max_steps=2",
            "push_to_hub=true",
            "hub_model_id=someone/tiny-halva",
            "save_merged=true",
        ]
    )
    assert code == 0
    assert fake_hub.calls == [("create_repo", "someone/tiny-halva"), ("upload_folder", "someone/tiny-halva", str(out))]
    assert not any(p.name.startswith("checkpoint") for p in out.iterdir())

    card = ModelCard.load(out / "README.md")
    assert card.data.base_model == str(model_dir)
    assert card.data.library_name == "peft"
    assert {"mmalign", "dpa", "lora"} <= set(card.data.tags)
    assert "DPA (HALVA)" in card.text and '"alpha": 0.4' in card.text and "| train_loss |" in card.text
    assert 'PeftModel.from_pretrained(base, "someone/tiny-halva")' in card.text

    base = AutoModelForImageTextToText.from_pretrained(model_dir)
    adapted = PeftModel.from_pretrained(base, out)
    merged = AutoModelForImageTextToText.from_pretrained(out / "merged")
    ids = torch.tensor([[1, 5, 9, 12]])
    with torch.no_grad():
        torch.testing.assert_close(adapted(input_ids=ids).logits, merged(input_ids=ids).logits, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(adapted(input_ids=ids).logits, AutoModelForImageTextToText.from_pretrained(model_dir)(input_ids=ids).logits)


def test_push_without_repo_id_is_a_one_line_error(capsys):
    assert main(["recipe=tiny", "push_to_hub=true", "max_steps=1"]) == 2
    assert "push_to_hub=true needs hub_model_id" in capsys.readouterr().err
