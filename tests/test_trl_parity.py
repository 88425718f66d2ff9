"""Parity of ``method=dpo`` with TRL's ``DPOTrainer`` (sigmoid DPO) on a tiny real LLaVA model.

The same preference records, in the format TRL's DPOTrainer accepts for vision-language data
(conversational ``prompt``/``chosen``/``rejected`` plus ``images``), go through both trainers:

* TRL: ``trl.DPOTrainer`` with its own ``DataCollatorForVisionPreference`` (prompt and completions
  tokenised separately, concatenated, flushed left) and ``trainer.compute_loss`` (fused LM head).
* ours: ``pair_from_dict`` → ``PairDataset`` → ``PreferenceCollator`` (one rendered conversation per
  side, tokenised once) and ``mmalign.trainers.dpo.DPOTrainer.compute_loss``.

Both run on identical weights, with the policy different from the reference so that the loss is
not log 2, in the two reference set-ups of :class:`mmalign.trainers.base.PreferenceTrainer`:

* ``full``: full fine-tuning; policy = a perturbed copy, ``ref_model`` = the unperturbed model
  (TRL: ``ref_model=``; ours: :func:`mmalign.models.frozen_reference` taken before perturbing);
* ``lora``: a LoRA adapter with non-zero (``init_lora_weights=False``) weights; the reference is the
  policy with its adapter disabled. TRL gets a ``peft_config`` (TRL then disables adapters for the
  reference); ours gets :func:`mmalign.models.load_model` (``use_peft=True``) with TRL's adapter
  weights copied in. (Handing TRL an already-wrapped ``PeftModel`` instead would make TRL copy the
  adapter into a frozen "ref" adapter, i.e. reference = the initial adapter, not the base model.)

Tokenisation: we check that both sides feed the model the same token ids, the same scored
(completion) positions and the same pixels before comparing losses, so a mismatch points at
tokenisation or at the loss. Two facts make the sequences coincide here:

1. BOS. TRL's vision collator tokenises with ``add_special_tokens=False`` and relies on the chat
   template to emit BOS; the tiny LLaVA template does not, so TRL would
   train without BOS while ours adds the tokenizer's BOS (``encoding._add_special_tokens``). The
   test therefore prefixes the template with ``{{ bos_token }}``: TRL then keeps the BOS of the
   rendered prompt and ours adds none (the text already starts with it), one BOS on both sides.
2. The prompt/completion boundary. TRL tokenises ``"USER: <image>\\n… ASSISTANT:"`` and
   ``" There is …</s>"`` separately; ours tokenises the whole string. The tiny tokenizer is
   byte-level BPE whose pre-tokenizer already splits at ``":" | " There"``, and ``</s>`` is a special
   token, so both give the same ids; and ours scores every token overlapping the response span
   (``" There"`` included, end-of-turn ``</s>`` included), which are exactly TRL's completion tokens.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import datasets
import pytest
import torch
import trl
from peft import LoraConfig, get_peft_model_state_dict, set_peft_model_state_dict
from transformers import AutoModelForImageTextToText

from mmalign.builtin import demo_corpus, draw_scene
from mmalign.data.dataset import PairDataset
from mmalign.data.readers import pair_from_dict
from mmalign.models import ModelConfig, frozen_reference, language_model_linear_names, load_model, load_processor
from mmalign.tiny import build_tiny_vlm
from mmalign.trainers.dpo import DPOConfig, DPOTrainer

BETA = 0.1
LORA = dict(r=8, lora_alpha=64, lora_dropout=0.0)
# Prompts and responses of different lengths, so both collators pad (TRL left-pads prompts, then
# flushes left; ours right-pads whole sequences).
SCENES = [
    (("red", "circle", "large"), "Describe the image.", "There is a large red circle in the picture.",
     "There is a small red circle in the picture."),
    (("blue", "square", "small"), "What shape do you see?", "It is square.", "It is triangle."),
    (("green", "triangle", "large"), "What color is the shape?", "It is green.", "There is a large blue triangle."),
]


def _records() -> list[dict]:
    """TRL's conversational vision preference format; ``pair_from_dict`` reads the same dicts."""
    return [
        {
            "prompt": [{"role": "user", "content": question}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
            "images": [draw_scene(*scene)],
        }
        for scene, question, chosen, rejected in SCENES
    ]


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    return build_tiny_vlm("llava", tmp_path_factory.mktemp("parity") / "tiny-llava", corpus=demo_corpus())


def _processor(path):
    processor = load_processor(ModelConfig(model=str(path)))
    template = "{{ bos_token }}" + processor.chat_template  # see the module docstring, point 1
    processor.chat_template = template
    processor.tokenizer.chat_template = template
    return processor


def _perturb(model: torch.nn.Module, seed: int = 0, scale: float = 0.2) -> None:
    """Add the same seeded noise to every language-model weight, whatever object holds them."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
            if "language_model" in name or "lm_head" in name:
                param.add_(scale * torch.randn(param.shape, generator=gen, dtype=param.dtype))


def _unpadded(ids: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
    return [row[m.bool()].tolist() for row, m in zip(ids, mask)]


def _trl_side(path, variant, out_dir):
    processor = _processor(path)
    model = AutoModelForImageTextToText.from_pretrained(path, attn_implementation="sdpa").eval()
    kwargs = {}
    if variant == "full":
        kwargs["ref_model"] = AutoModelForImageTextToText.from_pretrained(path, attn_implementation="sdpa").eval()
        _perturb(model)
    else:
        kwargs["peft_config"] = LoraConfig(
            **LORA, target_modules=language_model_linear_names(model), init_lora_weights=False, task_type="CAUSAL_LM"
        )
    args = trl.DPOConfig(
        output_dir=str(out_dir / "trl"),
        beta=BETA,
        loss_type="sigmoid",
        per_device_train_batch_size=len(SCENES),
        max_length=None,
        report_to="none",
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        seed=0,
    )
    train = datasets.Dataset.from_list(_records())
    trainer = trl.DPOTrainer(model=model, args=args, train_dataset=train, processing_class=processor, **kwargs)
    trainer.model.eval()  # get_peft_model returns a model in train mode; no dropout on either side
    batch = trainer.data_collator([train[i] for i in range(len(train))])
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)
    metrics = {k: v[-1] for k, v in trainer._metrics["eval"].items()}  # "eval": the models are in eval mode
    return trainer, batch, loss, metrics


def _our_side(path, variant, out_dir, trl_model):
    processor = _processor(path)
    config = ModelConfig(
        model=str(path), attn_implementation="sdpa", use_peft=variant == "lora", lora_r=LORA["r"],
        lora_alpha=LORA["lora_alpha"], lora_dropout=LORA["lora_dropout"],
    )
    model = load_model(config).eval()
    if variant == "lora":
        # The very same adapter weights as TRL's policy (TRL built them with init_lora_weights=False).
        result = set_peft_model_state_dict(model, get_peft_model_state_dict(trl_model))
        assert not result.unexpected_keys
        assert not [k for k in result.missing_keys if "lora_" in k]
    reference = frozen_reference(model)  # None under LoRA: the adapter is disabled instead
    if variant == "full":
        _perturb(model)
    args = DPOConfig(
        output_dir=str(out_dir / "ours"),
        beta=BETA,
        per_device_train_batch_size=len(SCENES),
        max_length=None,
        report_to="none",
        use_cpu=True,
    )
    pairs = [pair_from_dict(r, index=i) for i, r in enumerate(_records())]
    dataset = PairDataset(pairs)
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=processor, ref_model=reference)
    batch = trainer.data_collator([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)
    metrics = {k.removeprefix("eval/"): v[-1] for k, v in trainer._metrics.items()}  # eval mode, as TRL's
    return trainer, batch, loss, metrics


@pytest.mark.parametrize("variant", ["full", "lora"])
def test_dpo_loss_matches_trl(tiny_llava, tmp_path, variant):
    trl_trainer, trl_batch, trl_loss, trl_metrics = _trl_side(tiny_llava, variant, tmp_path)
    trl_model = trl_trainer.model if variant == "lora" else None
    _, our_batch, our_loss, our_metrics = _our_side(tiny_llava, variant, tmp_path, trl_model)

    # Same sequences: token ids (BOS included, padding stripped), scored positions, pixels.
    ours = our_batch["pair"]
    our_inputs = ours["inputs"]
    our_ids = _unpadded(our_inputs["input_ids"], our_inputs["attention_mask"])
    trl_ids = _unpadded(trl_batch["input_ids"], trl_batch["attention_mask"])
    assert our_ids == trl_ids
    bos = trl_trainer.processing_class.tokenizer.bos_token_id
    assert all(ids[0] == bos and ids[1] != bos for ids in our_ids)
    our_scored = _unpadded(ours["response_mask"].long(), our_inputs["attention_mask"])
    trl_scored = _unpadded(trl_batch["completion_mask"], trl_batch["attention_mask"])
    assert our_scored == trl_scored
    torch.testing.assert_close(our_inputs["pixel_values"], trl_batch["pixel_values"], rtol=0, atol=0)

    # Same per-side log-probabilities and rewards (batch means), then the same loss.
    for key in ("logps/chosen", "logps/rejected", "rewards/chosen", "rewards/rejected", "rewards/margins"):
        assert our_metrics[key] == pytest.approx(trl_metrics[key], abs=1e-4), key
    assert our_loss.dtype == trl_loss.dtype == torch.float32
    assert abs(float(our_loss) - math.log(2)) > 1e-3, "policy == reference: the comparison would be vacuous"
    assert float(our_loss) == pytest.approx(float(trl_loss), abs=1e-5)
