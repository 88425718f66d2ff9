"""Loading a vision-language model and its processor, LoRA/QLoRA, attention choice, reference policy.

Everything here goes through transformers (``from_pretrained``, ``BitsAndBytesConfig``, DeepSpeed's
``zero.Init`` via transformers' integration) and PEFT (``get_peft_model``,
``prepare_model_for_kbit_training``); this module only decides what to ask them for.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, set_seed
from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

from .errors import ConfigError

logger = logging.getLogger(__name__)

# Attribute names under which transformers' VLMs keep their vision encoder and projector.
VISION_TOWER_NAMES = ("vision_tower", "visual", "vision_model", "vision_encoder")
PROJECTOR_NAMES = ("multi_modal_projector", "mm_projector", "connector", "merger", "image_newline")

QUANTIZATION = ("none", "4bit", "8bit")
#: attention implementations checked here; transformers also takes Hub kernels ("org/name"), passed as given
ATTN_IMPLEMENTATIONS = ("auto", "sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")
#: the Python module each FlashAttention implementation needs
FLASH_MODULES = {"flash_attention_2": "flash_attn", "flash_attention_3": "flash_attn_interface"}


@dataclass
class ModelConfig:
    """What to load and how to adapt it (TRL's ModelConfig, restricted to what applies here)."""

    model: str = field(default="", metadata={"help": "Hub id or local path of the vision-language model."})
    model_revision: str | None = None
    dtype: str = field(default="auto", metadata={"help": "auto (bf16/fp16 per training flags), float32, bfloat16, float16."})
    attn_implementation: str = field(
        default="auto",
        metadata={"help": "auto (FlashAttention 2 when installed, on CUDA, in bf16/fp16; else SDPA), sdpa, eager, "
                  "flash_attention_2, flash_attention_3, flex_attention."},
    )
    quantization: str = field(
        default="none",
        metadata={"help": "none; 4bit (QLoRA: bitsandbytes NF4, double quantisation) or 8bit (LLM.int8); LoRA only."},
    )
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

    def __post_init__(self):
        if self.quantization not in QUANTIZATION:
            raise ValueError(f"quantization must be one of {', '.join(QUANTIZATION)}, got {self.quantization!r}")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS and "/" not in self.attn_implementation:
            raise ValueError(
                f"attn_implementation must be one of {', '.join(ATTN_IMPLEMENTATIONS)} (or a Hub kernel org/name), "
                f"got {self.attn_implementation!r}"
            )
        if self.quantization != "none" and not self.use_peft:
            raise ValueError(f"quantization={self.quantization} trains LoRA adapters on a frozen base: set use_peft=true")


def flash_attention_missing(implementation: str = "flash_attention_2", dtype: torch.dtype | None = None) -> str | None:
    """Why ``implementation`` cannot run here (package, CUDA device, dtype), or None when it can."""
    module = FLASH_MODULES[implementation]
    if importlib.util.find_spec(module) is None:
        return f"the {module} package is not installed"
    if not torch.cuda.is_available():
        return "no CUDA device is visible"
    if dtype is not None and dtype not in (torch.bfloat16, torch.float16):
        return f"it runs in bf16/fp16 only and the model loads in {str(dtype).replace('torch.', '')} (set bf16=true)"
    return None


def resolve_attn_implementation(requested: str, dtype: torch.dtype | None = None) -> str:
    """``auto`` → FlashAttention 2 when flash-attn, a CUDA device and a half-precision ``dtype`` are all
    there, else PyTorch SDPA; the choice is logged. An explicit choice that cannot run here is a
    :class:`ConfigError` saying why."""
    if requested == "auto":
        reason = flash_attention_missing("flash_attention_2", dtype)
        choice = "sdpa" if reason else "flash_attention_2"
        logger.info("attention implementation: %s%s", choice, f" (FlashAttention 2 not used: {reason})" if reason else "")
        return choice
    if requested in FLASH_MODULES:
        reason = flash_attention_missing(requested, dtype)
        if reason:
            raise ConfigError(f"attn_implementation={requested} cannot be used: {reason}")
    return requested


def resolve_dtype(name: str, bf16: bool = False, fp16: bool = False) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if bf16 else torch.float16 if fp16 else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {name!r}") from None


def load_processor(config: ModelConfig) -> Any:
    try:
        processor = AutoProcessor.from_pretrained(
            config.model, revision=config.model_revision, trust_remote_code=config.trust_remote_code
        )
    except OSError as err:  # not on disk, not in the cache, and the Hub not reachable (or no such repo)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot load model {config.model!r}: {reason}") from None
    if getattr(processor, "chat_template", None) is None:
        raise ConfigError(f"the processor of {config.model} has no chat template")
    return processor


def quantization_config(config: ModelConfig, compute_dtype: torch.dtype) -> Any:
    """The ``BitsAndBytesConfig`` for ``config.quantization`` (None for ``none``).

    4bit is QLoRA's recipe: NF4 weights, double quantisation, matmuls in ``compute_dtype``. The vision
    tower, the projector and the LM head stay unquantised (they are small, and quantising the vision
    encoder costs accuracy for little memory). Under ZeRO-3 the 4-bit weights are stored in
    ``compute_dtype`` so that DeepSpeed can shard them like any other parameter.
    """
    if config.quantization == "none":
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(
            f"quantization={config.quantization} needs bitsandbytes: pip install 'mmalign[quant]' (or bitsandbytes)"
        )
    from transformers import BitsAndBytesConfig

    skip = [rf".*{name}" for name in VISION_TOWER_NAMES + PROJECTOR_NAMES] + ["lm_head"]
    if config.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    storage = {"bnb_4bit_quant_storage": compute_dtype} if is_deepspeed_zero3_enabled() else {}
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
        llm_int8_skip_modules=skip,
        **storage,
    )


def _kbit_device_map() -> dict[str, Any] | None:
    """bitsandbytes quantises while placing weights, so each process loads onto its own device."""
    if is_deepspeed_zero3_enabled():
        return None  # DeepSpeed places (and shards) the weights itself
    if torch.cuda.is_available():
        from accelerate import PartialState

        return {"": PartialState().local_process_index}
    return {"": "cpu"}


def load_pretrained(config: ModelConfig, bf16: bool = False, fp16: bool = False) -> torch.nn.Module:
    """``from_pretrained`` with the dtype, attention implementation and quantization of ``config``.

    Under DeepSpeed ZeRO-3 (a live ``HfDeepSpeedConfig``, set up by ``TrainingArguments`` when
    launched with a ZeRO-3 accelerate config) transformers builds the model inside ``zero.Init``, so
    each rank only ever holds its shard of the weights.
    """
    dtype = resolve_dtype(config.dtype, bf16, fp16)
    kwargs: dict[str, Any] = {}
    quant = quantization_config(config, dtype)
    if quant is not None:
        kwargs.update(quantization_config=quant, device_map=_kbit_device_map())
    attn = resolve_attn_implementation(config.attn_implementation, dtype)
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            config.model,
            revision=config.model_revision,
            dtype=dtype,
            attn_implementation=attn,
            trust_remote_code=config.trust_remote_code,
            **kwargs,
        )
    except (ValueError, ImportError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if "attn" in message.lower() or "attention" in message.lower():  # e.g. a model without SDPA support
            raise ConfigError(f"{config.model}: attn_implementation={attn}: {message}") from None
        raise
    model.config.use_cache = False
    return model


def load_model(config: ModelConfig, bf16: bool = False, fp16: bool = False, seed: int | None = None) -> torch.nn.Module:
    """Load the model for training: LoRA on the language model (on a 4/8-bit base with
    ``quantization``), or full fine-tuning with the vision tower and projector frozen unless the
    config unfreezes them.

    ``seed`` seeds the adapter's initialisation right before it is created, so the adapter does not
    depend on how many random numbers loading the base consumed (that differs under ``zero.Init``
    and with quantisation).
    """
    model = load_pretrained(config, bf16, fp16)
    if config.quantization != "none":
        from peft import prepare_model_for_kbit_training

        # Casts the remaining non-quantised weights to fp32 for stable training and freezes the base;
        # activation checkpointing stays the Trainer's business (its kwargs, its switch).
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        model.enable_input_require_grads()  # lets reentrant checkpointing see gradients through frozen inputs
    if config.use_peft:
        if seed is not None:
            set_seed(seed)
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


def frozen_reference(
    model: torch.nn.Module, config: ModelConfig | None = None, bf16: bool = False, fp16: bool = False
) -> torch.nn.Module | None:
    """The reference policy: ``None`` under LoRA (adapters are disabled instead), else a frozen copy.

    Under ZeRO-3 the copy is loaded again with ``from_pretrained`` (so ``zero.Init`` shards it at
    load time, like the policy); deep-copying a sharded model would copy only the local shards'
    bookkeeping. Elsewhere (one device, DDP, ZeRO-0/1/2) the copy is replicated on each rank, so a
    deep copy of the freshly loaded policy is the cheapest way to get it.
    """
    if hasattr(model, "disable_adapter"):
        return None
    if is_deepspeed_zero3_enabled():
        if config is None:
            raise ValueError("under ZeRO-3 the reference is loaded from its ModelConfig: pass config")
        reference = load_pretrained(config, bf16, fp16)
    else:
        reference = copy.deepcopy(model)
    reference.eval().requires_grad_(False)
    return reference
