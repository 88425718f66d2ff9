"""Alignment diagnostics: phrase-preference accuracy and divergence from the base model."""

from __future__ import annotations

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmalign.eval.benchmarks.base import Item
from mmalign.eval.benchmarks.preference import PreferenceBenchmark, PreferenceConfig
from mmalign.eval.runner import load_eval_config, run
from mmalign.scoring import score_pairs
from mmalign.tiny import make_image


def _adapter(model_dir, out, scale: float):
    """A LoRA adapter on the tiny model; ``scale`` 0 keeps PEFT's initialisation (B = 0: no change)."""
    model = get_peft_model(AutoModelForImageTextToText.from_pretrained(model_dir), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    if scale:
        generator = torch.Generator().manual_seed(0)
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.data = torch.randn(param.shape, generator=generator) * scale
    model.save_pretrained(out)
    return out


def _general_set(tmp_path):
    make_image(3).save(tmp_path / "ref.png")
    record = {"id": "r1", "prompt": "What color is the shape?", "response": "It is red.", "images": ["ref.png"]}
    (tmp_path / "refs.jsonl").write_text(json.dumps(record) + "\n")
    return record


def _divergence(tmp_path, model_dir, adapter):
    argv = ["benchmark=divergence", f"model={model_dir}", f"adapter={adapter}", f"ref_file={tmp_path / 'refs.jsonl'}",
            f"media_root={tmp_path}", f"output_dir={tmp_path / adapter.name}"]
    return run(load_eval_config(argv))


def test_divergence_is_the_token_kl_from_the_base(tmp_path, tiny_model_dir):
    model_dir = tiny_model_dir("llava")
    record = _general_set(tmp_path)
    untouched = _divergence(tmp_path, model_dir, _adapter(model_dir, tmp_path / "zero", 0.0))
    assert untouched["kl_per_token"] == pytest.approx(0.0, abs=1e-6)  # B = 0: the model is its base

    moved = _divergence(tmp_path, model_dir, _adapter(model_dir, tmp_path / "moved", 0.3))
    # Independently: one forward of the whole chat with and without the adapter; the response tokens
    # are those after the generation prompt, each predicted by the position before it.
    from peft import PeftModel

    processor = AutoProcessor.from_pretrained(model_dir)
    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(model_dir), tmp_path / "moved").eval()
    image = make_image(3)
    user = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": record["prompt"]}]}
    full = processor.apply_chat_template([user, {"role": "assistant", "content": [{"type": "text", "text": record["response"]}]}], tokenize=False)
    prompt = processor.apply_chat_template([user], tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[full], images=[image], return_tensors="pt")
    first = processor(text=[prompt], images=[image], return_tensors="pt")["input_ids"].shape[1]
    with torch.no_grad():
        aligned = torch.log_softmax(model(**inputs).logits[0].double(), -1)
        with model.disable_adapter():
            base = torch.log_softmax(model(**inputs).logits[0].double(), -1)
    length = inputs["input_ids"].shape[1]
    kl = sum(float((base[t - 1].exp() * (base[t - 1] - aligned[t - 1])).sum()) for t in range(first, length))
    assert moved["num_tokens"] == length - first
    assert moved["kl_per_sample"] == pytest.approx(kl, rel=1e-3)
    assert moved["kl_per_token"] == pytest.approx(kl / (length - first), rel=1e-3)
    assert kl > 1e-4


def test_divergence_needs_a_base(tmp_path, capsys):
    from mmalign.evaluate import main

    _general_set(tmp_path)
    assert main(["benchmark=divergence", "model=m", f"ref_file={tmp_path / 'refs.jsonl'}"]) == 2
    assert "give adapter=PATH, or base_model=ID" in capsys.readouterr().err


def test_preference_scores_from_phrase_logps():
    records = {
        # phrase margins +0.5 and -1.0; whole responses -5 > -6
        "p1": {"chosen_phrase_logps": [-1.0, -2.0], "rejected_phrase_logps": [-1.5, -1.0], "chosen_logp": -5.0, "rejected_logp": -6.0},
        # phrase margin +2.8; whole responses -4 < -3
        "p2": {"chosen_phrase_logps": [-0.2], "rejected_phrase_logps": [-3.0], "chosen_logp": -4.0, "rejected_logp": -3.0},
    }

    bench = PreferenceBenchmark(PreferenceConfig(benchmark="preference", model="m"))
    m = bench.score([Item("p1", ""), Item("p2", "")], records, None)
    assert m["phrase_accuracy"] == pytest.approx(200 / 3)  # 2 of 3 phrases
    assert m["pair_accuracy"] == pytest.approx(50.0)  # p2 has every phrase right, p1 not
    assert m["response_accuracy"] == pytest.approx(50.0)  # p1
    assert m["mean_phrase_margin"] == pytest.approx((0.5 - 1.0 + 2.8) / 3)


def test_preference_end_to_end(tmp_path, tiny_model_dir, demo_data):
    pairs = (demo_data / "pairs.jsonl").read_text().splitlines()[:4]
    (tmp_path / "heldout.jsonl").write_text("\n".join(pairs) + "\n")
    model_dir = tiny_model_dir("llava")
    argv = ["benchmark=preference", f"model={model_dir}", f"pairs_file={tmp_path / 'heldout.jsonl'}",
            f"media_root={demo_data}", f"output_dir={tmp_path / 'out'}", "batch_size=3"]
    m = run(load_eval_config(argv))
    assert m["n"] == 4 and m["num_phrases"] == 4  # one tagged phrase per demo pair
    # the same pairs scored directly
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    direct = score_pairs(model, AutoProcessor.from_pretrained(model_dir), [json.loads(p) for p in pairs], media_root=str(demo_data))
    wins = sum(r["chosen_phrase_logps"][0] > r["rejected_phrase_logps"][0] for r in direct)
    assert m["phrase_accuracy"] == pytest.approx(100 * wins / 4)
