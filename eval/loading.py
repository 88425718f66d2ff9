"""Loading the model to evaluate the way training loads it: the base with
``AutoModelForImageTextToText`` and its processor, then the PEFT adapter on top when one is given.

``model=tiny://llava`` (``tiny://qwen2_vl``, ``tiny://llava_onevision``) builds the tiny offline
model of :mod:`mmalign.builtin`, as training accepts it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForImageTextToText

from mmalign.builtin import PREFIX, demo_corpus
from mmalign.cache import cache_dir
from mmalign.errors import ConfigError
from mmalign.models import (
    ModelConfig,
    load_processor,
    resolve_attn_implementation,
    resolve_dtype,
)

from .config import EvalConfig

PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


@dataclass
class Runtime:
    """What scoring benchmarks compute with."""

    model: torch.nn.Module
    processor: Any
    device: torch.device
    config: EvalConfig
    base_model: torch.nn.Module | None = None


def resolve_model_name(name: str) -> str:
    if name.startswith(PREFIX):
        from mmalign.tiny import build_tiny_vlm

        family = name[len(PREFIX) :]
        return str(build_tiny_vlm(family, cache_dir() / f"tiny-{family}", corpus=demo_corpus()))
    return name


def eval_dtype(name: str) -> torch.dtype:
    if name == "auto":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    return resolve_dtype(name)


def load_model(config: EvalConfig, name: str | None = None, adapter: str | None = None) -> torch.nn.Module:
    """The base ``name`` (default: ``config.model``) with ``adapter`` on top, in eval mode."""
    name = name or config.model
    with _one_line(f"cannot load the model {name}"):
        model = AutoModelForImageTextToText.from_pretrained(
            resolve_model_name(name),
            revision=config.model_revision,
            dtype=eval_dtype(config.dtype),
            attn_implementation=resolve_attn_implementation(config.attn_implementation),
            trust_remote_code=config.trust_remote_code,
        )
    if adapter:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").is_file() and Path(adapter).exists():
            raise ConfigError(f"adapter={adapter} holds no adapter_config.json (not a PEFT adapter)")
        with _one_line(f"cannot load the adapter {adapter}"):
            model = PeftModel.from_pretrained(model, adapter)
    return model.eval().requires_grad_(False)


@contextlib.contextmanager
def _one_line(what: str):
    """Loading failures (a wrong name, no network, a broken file) as one line, not a traceback."""
    try:
        yield
    except (OSError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"{what}: {first}") from None


def load_eval_processor(config: EvalConfig) -> Any:
    """The adapter's processor when the adapter directory has one (training saves it there), else
    the model's."""
    source = resolve_model_name(config.model)
    if config.adapter and any((Path(config.adapter) / f).is_file() for f in PROCESSOR_FILES):
        source = config.adapter
    with _one_line(f"cannot load the processor of {source}"):
        return load_processor(
            ModelConfig(model=source, model_revision=None if source == config.adapter else config.model_revision,
                        trust_remote_code=config.trust_remote_code)
        )


def load_runtime(config: EvalConfig, device: torch.device) -> Runtime:
    """Model (with its adapter), processor and, when the config names one, a separate base model."""
    model = load_model(config, adapter=config.adapter).to(device)
    base_name = getattr(config, "base_model", None)
    base = load_model(config, name=base_name).to(device) if base_name else None
    return Runtime(model, load_eval_processor(config), device, config, base)
