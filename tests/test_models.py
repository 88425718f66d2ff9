"""Model loading: attention choice, QLoRA, the reference policy, the adapter seed, padding-free batches."""

from __future__ import annotations

import importlib.util
import logging

import pytest
import torch

import mmalign.models as models
from mmalign.config import build_setup
from mmalign.data.dataset import MediaOptions, PairDataset, PreferenceCollator
from mmalign.data.readers import pair_from_dict
from mmalign.errors import ConfigError
from mmalign.models import (
    ModelConfig,
    frozen_reference,
    load_model,
    quantization_config,
    resolve_attn_implementation,
    resolve_dtype,
)
from mmalign.scoring import score_batch
from mmalign.tiny import write_video
from mmalign.trainers import METHODS
from mmalign.trainers.base import packed_score_batch, packing_unsupported
from mmalign.train import main


def lora_config(model_dir, **overrides) -> ModelConfig:
    return ModelConfig(model=str(model_dir), lora_r=4, lora_alpha=8, lora_dropout=0.0, **overrides)


def fake_environment(monkeypatch, flash: bool, cuda: bool) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name in ("flash_attn", "flash_attn_interface"):
            return real_find_spec("json") if flash else None  # any spec stands for "installed"
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(models.importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(models.torch.cuda, "is_available", lambda: cuda)


# attention ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "flash,cuda,dtype,expected",
    [
        (True, True, torch.bfloat16, "flash_attention_2"),
        (True, True, torch.float16, "flash_attention_2"),
        (True, True, torch.float32, "sdpa"),  # FlashAttention runs in half precision only
        (True, False, torch.bfloat16, "sdpa"),
        (False, True, torch.bfloat16, "sdpa"),
    ],
)
def test_auto_attention_choice_is_logged(monkeypatch, caplog, flash, cuda, dtype, expected):
    fake_environment(monkeypatch, flash, cuda)
    with caplog.at_level(logging.INFO, logger="mmalign.models"):
        assert resolve_attn_implementation("auto", dtype) == expected
    assert f"attention implementation: {expected}" in caplog.text


@pytest.mark.parametrize(
    "flash,cuda,dtype,reason",
    [
        (False, True, torch.bfloat16, "the flash_attn package is not installed"),
        (True, False, torch.bfloat16, "no CUDA device is visible"),
        (True, True, torch.float32, "it runs in bf16/fp16 only and the model loads in float32"),
    ],
)
def test_explicit_flash_attention_that_cannot_run_says_why(monkeypatch, flash, cuda, dtype, reason):
    fake_environment(monkeypatch, flash, cuda)
    with pytest.raises(ConfigError, match=f"attn_implementation=flash_attention_2 cannot be used: {reason}"):
        resolve_attn_implementation("flash_attention_2", dtype)
    assert resolve_attn_implementation("sdpa", dtype) == "sdpa"


def test_explicit_flash_attention_on_this_machine_is_one_line(tiny_model_dir, demo_data, tmp_path, capsys, monkeypatch):
    fake_environment(monkeypatch, flash=False, cuda=False)
    code = main([
        f"model={tiny_model_dir('llava')}", f"train_file={demo_data / 'pairs.jsonl'}", f"media_root={demo_data}",
        "attn_implementation=flash_attention_2", "use_cpu=true", "report_to=none", f"output_dir={tmp_path / 'out'}",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "attn_implementation=flash_attention_2 cannot be used: the flash_attn package is not installed" in err


def test_unknown_attention_or_quantization_is_a_config_error():
    with pytest.raises(ConfigError, match="attn_implementation must be one of auto, sdpa, eager"):
        build_setup({"model": "m", "attn_implementation": "flash"})
    with pytest.raises(ConfigError, match="quantization must be one of none, 4bit, 8bit"):
        build_setup({"model": "m", "quantization": "4"})
    with pytest.raises(ConfigError, match="quantization=4bit trains LoRA adapters on a frozen base: set use_peft=true"):
        build_setup({"model": "m", "quantization": "4bit", "use_peft": False})


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_explicit_attention_is_honoured(tiny_model_dir, implementation):
    model = load_model(lora_config(tiny_model_dir("llava"), attn_implementation=implementation))
    base = model.get_base_model()
    assert base.config._attn_implementation == implementation
    assert base.config.get_text_config()._attn_implementation == implementation


# QLoRA ------------------------------------------------------------------------------------------------
def _bitsandbytes_problem() -> str | None:
    """Why bitsandbytes cannot quantize here, or None when it can (checked on one small layer)."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes is not installed (pip install -e '.[quant]')"
    try:
        import bitsandbytes as bnb

        layer = bnb.nn.Linear4bit(64, 64, compute_dtype=torch.float32, quant_type="nf4")
        layer.load_state_dict(torch.nn.Linear(64, 64).state_dict())
        layer.to("cpu")(torch.randn(2, 64))
    except Exception as err:  # noqa: BLE001 — any failure means: not usable on this machine
        return f"bitsandbytes cannot quantize on this CPU: {type(err).__name__}: {err}"
    return None


BNB_PROBLEM = _bitsandbytes_problem()
needs_bitsandbytes = pytest.mark.skipif(BNB_PROBLEM is not None, reason=BNB_PROBLEM or "")


def test_quantization_config_is_qlora_nf4_with_double_quantisation():
    if importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes is not installed")
    config = lora_config("m", quantization="4bit")
    bnb = quantization_config(config, resolve_dtype("auto", bf16=True))
    assert bnb.load_in_4bit and not bnb.load_in_8bit
    assert bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16
    assert quantization_config(config, resolve_dtype("auto", fp16=True)).bnb_4bit_compute_dtype == torch.float16
    eight = quantization_config(lora_config("m", quantization="8bit"), torch.float32)
    assert eight.load_in_8bit and not eight.load_in_4bit
    assert quantization_config(lora_config("m"), torch.float32) is None


def test_quantization_without_bitsandbytes_is_one_line(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name, *a, **k: None if name == "bitsandbytes" else real_find_spec(name, *a, **k)
    )
    with pytest.raises(ConfigError) as info:
        quantization_config(lora_config("m", quantization="4bit"), torch.float32)
    assert str(info.value) == "quantization=4bit needs bitsandbytes: pip install 'mmalign[quant]' (or bitsandbytes)"


@needs_bitsandbytes
@pytest.mark.parametrize("kind", ["4bit", "8bit"])
def test_qlora_quantizes_the_language_model_and_trains_only_adapters(tiny_model_dir, demo_data, tmp_path, kind):
    import bitsandbytes as bnb
    from safetensors.torch import load_file

    model_dir = tiny_model_dir("llava")
    model = load_model(lora_config(model_dir, quantization=kind), seed=0)
    original = load_file(model_dir / "model.safetensors")
    quantized_type = bnb.nn.Linear4bit if kind == "4bit" else bnb.nn.Linear8bitLt
    language, vision = [], []
    for name, module in model.named_modules():
        if name.endswith("base_layer"):
            language.append(module)
        elif "vision_tower" in name and isinstance(module, torch.nn.Linear):
            vision.append(module)
    assert language and all(isinstance(m, quantized_type) for m in language)
    assert vision and not any(isinstance(m, quantized_type) for m in vision)  # the vision tower stays as it was
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n, _ in model.named_parameters() if "lora_" in n
    }

    # The quantized weights are the originals up to the format's rounding (NF4: 16 levels per
    # 64-value block scaled by its absmax, widest gap between levels 0.28; int8: 1/127 of the row max).
    layer = next(m for n, m in model.named_modules() if n.endswith("layers.0.self_attn.q_proj.base_layer"))
    weight = original["language_model.model.layers.0.self_attn.q_proj.weight"]
    if kind == "4bit":
        restored = bnb.functional.dequantize_4bit(layer.weight.data, layer.weight.quant_state).float()
        assert layer.weight.quant_state.quant_type == "nf4" and layer.weight.quant_state.nested  # double quantisation
        bound = 0.15 * weight.abs().max()
    else:
        restored = layer.weight.CB.float() * layer.weight.SCB.float()[:, None] / 127
        bound = weight.abs().amax(dim=1, keepdim=True) / 127
    error = (restored - weight).abs()
    assert 0 < error.max() and bool((error <= bound + 1e-6).all())

    # A DPA loss through the trainer: finite, with gradients on every adapter and nowhere else.
    from mmalign.data.readers import read_conversations, read_pairs

    setup = build_setup({"model": str(model_dir), "method": "dpa", "output_dir": str(tmp_path), "use_cpu": True,
                         "report_to": "none", "max_length": 256})  # fmt: skip
    dataset = PairDataset(read_pairs(demo_data / "pairs.jsonl")[:2], read_conversations(demo_data / "refs.jsonl"),
                          MediaOptions(str(demo_data)))  # fmt: skip
    trainer = METHODS["dpa"][1](model=model, args=setup.training, train_dataset=dataset,
                                processing_class=models.load_processor(setup.model))  # fmt: skip
    batch = trainer.data_collator([dataset[0], dataset[1]])
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert set(grads) == {n for n, _ in model.named_parameters() if "lora_B" in n or "lora_A" in n}
    assert any(g.abs().sum() > 0 for g in grads.values())


# reference policy and adapter seed ------------------------------------------------------------------------
def test_reference_is_none_under_lora_and_a_frozen_copy_otherwise(tiny_model_dir):
    model_dir = tiny_model_dir("llava")
    assert frozen_reference(load_model(lora_config(model_dir))) is None
    policy = load_model(ModelConfig(model=str(model_dir), use_peft=False))
    reference = frozen_reference(policy)
    assert not any(p.requires_grad for p in reference.parameters()) and not reference.training
    for (name, p), q in zip(policy.named_parameters(), reference.parameters()):
        assert torch.equal(p, q) and p.data_ptr() != q.data_ptr(), name


def test_reference_under_zero3_is_loaded_again_not_copied(tiny_model_dir, monkeypatch):
    # Under ZeRO-3 the policy's parameters are shards; the reference must come from from_pretrained
    # (inside zero.Init) instead. Here: the policy is changed first, and the reference still holds
    # the checkpoint's weights, so it was read from disk rather than copied.
    model_dir = tiny_model_dir("llava")
    config = ModelConfig(model=str(model_dir), use_peft=False)
    policy = load_model(config)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(1.0)
    monkeypatch.setattr(models, "is_deepspeed_zero3_enabled", lambda: True)
    with pytest.raises(ValueError, match="pass config"):
        frozen_reference(policy)
    reference = frozen_reference(policy, config)
    fresh = load_model(config).state_dict()
    assert all(torch.equal(fresh[n], p) for n, p in reference.state_dict().items())
    assert not any(p.requires_grad for p in reference.parameters())


def test_adapter_initialisation_depends_only_on_the_seed(tiny_model_dir):
    model_dir = tiny_model_dir("llava")
    torch.manual_seed(1)
    first = load_model(lora_config(model_dir), seed=7)
    torch.manual_seed(2)
    torch.rand(1000)  # other code drawing random numbers before the adapter is made
    second = load_model(lora_config(model_dir), seed=7)
    lora = {n: p for n, p in first.named_parameters() if "lora_A" in n}
    other = dict(second.named_parameters())
    assert lora and all(torch.equal(p, other[n]) for n, p in lora.items())


# padding-free batches ---------------------------------------------------------------------------------------
def _uneven_batch(processor, demo_data, tmp_path, with_video: bool):
    """Pairs whose prompts, responses and media differ in length, so rows carry much padding."""
    records = [
        {"prompt": "Describe the image.", "chosen": "A <MASK>red</MASK> circle.", "rejected": "A <MASK>blue</MASK> circle.",
         "images": ["images/pair_000.png"]},
        {"prompt": "What do you see in this picture? Please describe the shape, its color and its size in detail.",
         "chosen": "There is a <MASK>large</MASK> green square in the middle of the picture, on a light background.",
         "rejected": "There is a <MASK>small</MASK> green square in the middle of the picture, on a light background.",
         "images": ["images/pair_001.png"]},
        {"prompt": "Shape?", "chosen": "A <MASK>triangle</MASK>.", "rejected": "A <MASK>circle</MASK>.",
         "images": ["images/pair_002.png"]},
    ]  # fmt: skip
    if with_video:
        write_video(tmp_path / "clip.mp4", num_frames=4)
        records.append({"prompt": "What moves?", "chosen": "A <MASK>ball</MASK> moves.",
                        "rejected": "A <MASK>cube</MASK> moves.", "images": [], "video": str(tmp_path / "clip.mp4")})  # fmt: skip
    pairs = [pair_from_dict(r, index=i) for i, r in enumerate(records)]
    dataset = PairDataset(pairs, media=MediaOptions(str(demo_data), num_frames=4))
    return PreferenceCollator(processor)([dataset[i] for i in range(len(dataset))])["pair"]


@pytest.mark.parametrize("family", ["llava", "llava_onevision"])
def test_packed_forward_scores_like_the_padded_one(tiny_model_dir, demo_data, tmp_path, family):
    model_dir = tiny_model_dir(family)
    config = lora_config(model_dir, attn_implementation="sdpa")
    model = load_model(config, seed=0)
    with torch.no_grad():  # non-zero adapters, so gradients reach both LoRA matrices
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(0))
    encoded = _uneven_batch(models.load_processor(config), demo_data, tmp_path, with_video=family != "llava")
    lengths = encoded["inputs"]["attention_mask"].sum(1)
    assert lengths.max() - lengths.min() >= 20  # plenty of padding to get wrong
    assert packing_unsupported(model) is None

    padded = score_batch(model, encoded, keep_logits=True)
    padded_loss = padded.token_logps.sum() + padded.logits[padded.response_mask].logsumexp(-1).sum()
    padded_grads = torch.autograd.grad(padded_loss, [p for p in model.parameters() if p.requires_grad])
    packed = packed_score_batch(model, encoded, keep_logits=True)
    packed_loss = packed.token_logps.sum() + packed.logits[packed.response_mask].logsumexp(-1).sum()
    packed_grads = torch.autograd.grad(packed_loss, [p for p in model.parameters() if p.requires_grad])

    assert torch.equal(packed.response_mask, padded.response_mask) and torch.equal(packed.phrase_ids, padded.phrase_ids)
    torch.testing.assert_close(packed.token_logps, padded.token_logps, rtol=1e-5, atol=1e-5)
    mask = padded.response_mask
    torch.testing.assert_close(packed.logits[mask], padded.logits[mask], rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(packed_grads, padded_grads):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-6)


def test_padding_free_switch(tiny_model_dir, demo_data, tmp_path, caplog):
    def trainer_for(family, padding_free):
        setup = build_setup({"model": str(tiny_model_dir(family)), "method": "rrpo", "output_dir": str(tmp_path),
                             "use_cpu": True, "report_to": "none", "padding_free": padding_free, "lora_r": 4,
                             "attn_implementation": "sdpa"})  # fmt: skip
        model = load_model(setup.model, seed=0)
        return METHODS["rrpo"][1](model=model, args=setup.training, processing_class=models.load_processor(setup.model))

    assert trainer_for("llava", "auto").padding_free is False  # SDPA: packing would save nothing
    with caplog.at_level(logging.WARNING, logger="mmalign.trainers.base"):
        assert trainer_for("llava", True).padding_free is True
    assert "without the savings" in caplog.text
    assert trainer_for("qwen2_vl", "auto").padding_free is False
    with pytest.raises(ConfigError, match="padding_free=true is not supported here: Qwen2VLForConditionalGeneration uses multimodal"):
        trainer_for("qwen2_vl", True)
    with pytest.raises(ConfigError, match="padding_free must be true, false or auto"):
        build_setup({"model": "m", "padding_free": "sometimes"})
