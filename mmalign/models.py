"""Loading a vision-language model and its processor, LoRA, attention choice, reference policy."""

from __future__ import annotations

import copy
import importlib.util
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from .errors import ConfigError

logger = logging.getLogger(__name__)

# Attribute names under which transformers' VLMs keep their vision encoder and projector.
VISION_TOWER_NAMES = ("vision_tower", "visual", "vision_model", "vision_encoder")
PROJECTOR_NAMES = ("multi_modal_projector", "mm_projector", "connector", "merger", "image_newline")


@dataclass
class ModelConfig:
    """What to load and how to adapt it (TRL's ModelConfig, restricted to what applies here)."""

    model: str = field(default="", metadata={"help": "Hub id or local path of the vision-language model."})
    model_revision: str | None = None
    dtype: str = field(default="auto", metadata={"help": "auto (bf16/fp16 per training flags), float32, bfloat16, float16."})
    attn_implementation: str = field(default="auto", metadata={"help": "auto, sdpa, eager, flash_attention_2."})
    trust_remote_code: bool = False
    use_peft: bool = field(default=True, metadata={"help": "LoRA (true) or full fine-tuning (false)."})
    lora_r: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = field(
        default=None, metadata={"help": "Module name suffixes; default: every linear layer of the language model."}
    )
    train_vision_tower: bool = False
    train_projector: bool = False


def resolve_attn_implementation(requested: str) -> str:
    """``auto`` → FlashAttention 2 when flash-attn and a CUDA device are present, else SDPA."""
    has_flash = importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()
    if requested == "auto":
        choice = "flash_attention_2" if has_flash else "sdpa"
        logger.info("attention implementation: %s", choice)
        return choice
    if requested == "flash_attention_2" and not has_flash:
        raise ConfigError("attn_implementation=flash_attention_2 needs the flash-attn package and a CUDA GPU")
    return requested


def resolve_dtype(name: str, bf16: bool = False, fp16: bool = False) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {name!r}") from None


def load_processor(config: ModelConfig) -> Any:
    processor = AutoProcessor.from_pretrained(
        config.model, revision=config.model_revision, trust_remote_code=config.trust_remote_code
    )
    if getattr(processor, "chat_template", None) is None:
        raise ConfigError(f"the processor of {config.model} has no chat template")
    return processor


def load_model(config: ModelConfig, bf16: bool = False, fp16: bool = False) -> torch.nn.Module:
    """Load the model for training: LoRA on the language model, or full fine-tuning with the vision
    tower and projector frozen unless the config unfreezes them."""
    model = AutoModelForImageTextToText.from_pretrained(
        config.model,
        revision=config.model_revision,
        dtype=resolve_dtype(config.dtype, bf16, fp16),
        attn_implementation=resolve_attn_implementation(config.attn_implementation),
        trust_remote_code=config.trust_remote_code,
    )
    model.config.use_cache = False
    if config.use_peft:
        return add_lora(model, config)
    for name, param in model.named_parameters():
        if not trainable_in_full_finetuning(name, config):
            param.requires_grad_(False)
    return model


def _is_under(name: str, parts: tuple[str, ...]) -> bool:
    return any(part in name.split(".") for part in parts)


def trainable_in_full_finetuning(name: str, config: ModelConfig) -> bool:
    if _is_under(name, PROJECTOR_NAMES):
        return config.train_projector
    if _is_under(name, VISION_TOWER_NAMES):
        return config.train_vision_tower
    return True


def language_model_linear_names(model: torch.nn.Module) -> list[str]:
    """Full names of the language model's linear layers (LM head, vision tower, projector excluded)."""
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.split(".")[-1] == "lm_head":
            continue
        if _is_under(name, VISION_TOWER_NAMES + PROJECTOR_NAMES):
            continue
        names.append(name)
    return names


def add_lora(model: torch.nn.Module, config: ModelConfig) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    targets = language_model_linear_names(model)
    if config.lora_target_modules:
        suffixes = tuple(config.lora_target_modules)
        targets = [n for n in targets if n.split(".")[-1] in suffixes]
        if not targets:
            raise ConfigError(f"lora_target_modules {list(suffixes)} match no linear layer of the language model")
    modules_to_save = []
    for part, wanted in ((VISION_TOWER_NAMES, config.train_vision_tower), (PROJECTOR_NAMES, config.train_projector)):
        if wanted:
            modules_to_save += [n for n, _ in model.named_modules() if n.split(".")[-1] in part]
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=sorted({n.split(".")[-1] for n in modules_to_save}) or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def frozen_reference(model: torch.nn.Module) -> torch.nn.Module | None:
    """The reference policy: ``None`` under LoRA (adapters are disabled instead), else a frozen copy."""
    if hasattr(model, "disable_adapter"):
        return None
    reference = copy.deepcopy(model)
    reference.eval().requires_grad_(False)
    return reference
