"""The tiny model families: config, random weights and processor, saved like a Hub checkpoint.

``build_tiny_vlm(family=...)`` builds one of :data:`FAMILIES`: the three below, and those of
:mod:`mmalign.tiny.more_families` (Qwen2.5-VL, Qwen3-VL, Gemma 3, SmolVLM, InternVL, LLaVA-NeXT,
LLaVA-NeXT-Video, Mistral 3).

``"llava"``
    ``LlavaForConditionalGeneration``: CLIP vision tower (32 px, patch 8) + Llama text model.
    ``LlavaProcessor`` with ``CLIPImageProcessor``. One image -> 16 ``<image>`` tokens.
    Chat template in the llava-1.5-hf style:
    ``USER: <image>\\n{prompt} ASSISTANT: {answer}</s>``. The tokenizer adds ``<s>`` (bos).
``"qwen2_vl"``
    ``Qwen2VLForConditionalGeneration`` (patch 14, merge 2, temporal patch 2) + ``Qwen2VLProcessor``
    (image processor and video processor, 56*56 <= pixels <= 112*112). A 56x56 image -> 4
    ``<|image_pad|>`` tokens; an 8-frame 56x56 video -> 16 ``<|video_pad|>`` tokens.
    Chat template modelled on Qwen2-VL's (``<|im_start|>``/``<|im_end|>``, default system
    prompt, ``<|vision_start|><|image_pad|><|vision_end|>``).
``"llava_onevision"``
    ``LlavaOnevisionForConditionalGeneration``: SigLIP vision tower (32 px, patch 8, 16 patches)
    + Qwen2 text model; ``LlavaOnevisionProcessor`` with image ("anyres", grid pinpoints in
    multiples of 32 px up to 96 px) and video processors. A 56x56 image -> 88 ``<image>`` tokens
    (base 16 + 2x2 grid 64 + 8 newlines); an n-frame video -> ``4 n + 1`` ``<video>`` tokens.
    Qwen-style template with ``<image>``/``<video>`` placeholders (the LLaVA-Video / OneVision
    ``qwen_1_5`` conversation format).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..cache import build_cached
from .templates import _END_OF_TURN, _FAMILY_TOKENS, _NAMED_TOKENS, CHAT_TEMPLATES
from .tokenizer import _resolve_kind, train_tokenizer
from .vision import _IMG, _PATCH, _image_processor, _require_torchvision

__all__ = ["FAMILIES", "build_tiny_vlm"]

FAMILIES = (
    "llava",
    "qwen2_vl",
    "llava_onevision",
    # mmalign.tiny.more_families
    "qwen2_5_vl",
    "qwen3_vl",
    "gemma3",
    "smolvlm",
    "internvl",
    "llava_next",
    "llava_next_video",
    "mistral3",
)

# Bumped whenever the produced files change, so that cached builds are rebuilt.
_FORMAT_VERSION = 1
_MARKER = "mmalign_tiny.json"

# Sizes shared by the tiny text models.
_TEXT = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
)
_FAMILY_VOCAB = 1024  # trained vocabulary of the family tokenizers (+ special tokens)
_OV_PINPOINTS = [[_IMG * i, _IMG * j] for i in range(1, 4) for j in range(1, 4)]
_QWEN_MIN_PIXELS = 56 * 56
_QWEN_MAX_PIXELS = 112 * 112


def _spec(family: str, tokenizer_kind: str, seed: int, corpus: list[str]) -> dict[str, Any]:
    digest = hashlib.sha256("\x00".join(corpus).encode("utf-8")).hexdigest()
    import transformers

    return {
        "format_version": _FORMAT_VERSION,
        "family": family,
        "tokenizer_kind": tokenizer_kind,
        "seed": seed,
        "corpus_sha256": digest,
        "transformers_version": transformers.__version__,
    }




def build_tiny_vlm(
    family: str,
    output_dir: str | Path,
    corpus: Iterable[str] = (),
    tokenizer_kind: str = "bpe",
    seed: int = 0,
) -> Path:
    """Build, save and return a tiny random VLM + processor of ``family`` in ``output_dir``.

    The directory then loads with ``AutoModelForImageTextToText.from_pretrained(output_dir)`` and
    ``AutoProcessor.from_pretrained(output_dir)`` (and ``AutoTokenizer``), offline. The build is
    deterministic for (family, corpus, tokenizer_kind, seed): same tokenizer, same weights.

    Caching (:func:`mmalign.cache.build_cached`): the build is written to a temporary sibling
    directory and moved into place, with a ``mmalign_tiny.json`` marker written last. If
    ``output_dir`` already holds a complete build with the same settings it is returned as is; a
    build with other settings is replaced; a non-empty directory that is not such a build raises
    ``FileExistsError``. Concurrent builders of the same directory (e.g. pytest-xdist workers)
    are safe: the loser discards its copy.

    Args:
        family: one of :data:`FAMILIES` (see this module's and :mod:`.more_families`' docstrings).
        output_dir: where to save.
        corpus: extra text for the tokenizer (the built-in English word list is always added).
        tokenizer_kind: ``"bpe"``, ``"wordpiece"`` or ``"metaspace"`` (see ``train_tokenizer``).
        seed: seeds the weight initialisation.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown tiny VLM family {family!r}; expected one of {FAMILIES}")
    tokenizer_kind = _resolve_kind(tokenizer_kind)
    output_dir = Path(output_dir)
    corpus_list = [str(x) for x in corpus]
    spec = _spec(family, tokenizer_kind, int(seed), corpus_list)
    return build_cached(
        output_dir,
        spec,
        lambda tmp: _build_into(tmp, family, corpus_list, tokenizer_kind, int(seed)),
        marker=_MARKER,
        what="tiny model build",
    )


def _build_into(path: Path, family: str, corpus: list[str], tokenizer_kind: str, seed: int) -> None:
    import torch
    from transformers import GenerationConfig

    named, extras, add_bos = _FAMILY_TOKENS[family]
    tokenizer = train_tokenizer(
        corpus,
        kind=tokenizer_kind,
        vocab_size=_FAMILY_VOCAB,
        special_tokens=named,
        extra_special_tokens=extras,
        add_bos_token=add_bos,
        named_tokens=_NAMED_TOKENS.get(family),
    )
    template = CHAT_TEMPLATES[family]
    tokenizer.chat_template = template
    ids = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    text_kwargs = dict(_TEXT, max_position_embeddings=4096, tie_word_embeddings=False, **ids)

    from .more_families import BUILDERS

    builder = {"llava": _build_llava, "qwen2_vl": _build_qwen2_vl, "llava_onevision": _build_llava_onevision, **BUILDERS}
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model, processor = builder[family](tokenizer, template, text_kwargs)
    model.eval()
    # transformers 5 keeps the token ids in the text config; real Hub checkpoints (llava-1.5-hf,
    # Qwen2-VL) also carry them at the top level, where some callers look: set both.
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.config, name, ids[name])
    # Generation stops at the eos and, where the family's turns end with another token, at that
    # one too (as the checkpoints' generation_config.json list them).
    stop = [ids["eos_token_id"]] + [tokenizer.convert_tokens_to_ids(t) for t in _END_OF_TURN.get(family, ())]
    model.generation_config = GenerationConfig(
        bos_token_id=ids["bos_token_id"],
        eos_token_id=stop if len(stop) > 1 else stop[0],
        pad_token_id=ids["pad_token_id"],
        do_sample=False,
    )
    save_quietly(model, processor, path)


def save_quietly(model: Any, processor: Any, path: str | Path) -> None:
    """``save_pretrained`` of a model and its processor without transformers' progress bars."""
    from transformers.utils import logging as hf_logging

    bars_were_disabled = hf_logging.is_progress_bar_enabled() is False
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        processor.save_pretrained(path)
    finally:
        if not bars_were_disabled:
            hf_logging.enable_progress_bar()


def _build_llava(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=_IMG,
        patch_size=_PATCH,
        projection_dim=32,
    )
    text = LlamaConfig(**text_kwargs)
    num_patches = (_IMG // _PATCH) ** 2
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=num_patches,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        projector_hidden_act="gelu",
    )
    model = LlavaForConditionalGeneration(config)
    image_processor = _image_processor(
        "CLIPImageProcessor",
        size={"shortest_edge": _IMG},
        crop_size={"height": _IMG, "width": _IMG},
        do_center_crop=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=_PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token; "default" drops it again
        image_token="<image>",
        chat_template=template,
    )
    return model, processor


def _build_qwen2_vl(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    _require_torchvision("qwen2_vl")
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    head_dim = text_kwargs["hidden_size"] // text_kwargs["num_attention_heads"]  # 16
    half = head_dim // 2  # mrope sections (t, h, w) sum to head_dim / 2, 1 : 1.5 : 1.5 as in Qwen2-VL
    t = half // 4
    mrope = [t, (half - t) // 2, half - t - (half - t) // 2]
    text = dict(text_kwargs)
    text.pop("tie_word_embeddings")
    text.update(rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": mrope})
    vision = dict(
        depth=2,
        embed_dim=32,
        hidden_size=text_kwargs["hidden_size"],  # merger output = text hidden size
        num_heads=2,
        mlp_ratio=2,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        in_channels=3,
    )
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
        tie_word_embeddings=False,
    )
    model = Qwen2VLForConditionalGeneration(config)
    common = dict(
        min_pixels=_QWEN_MIN_PIXELS,
        max_pixels=_QWEN_MAX_PIXELS,
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )
    image_processor = _image_processor("Qwen2VLImageProcessor", **common)
    video_processor = Qwen2VLVideoProcessor(**common, min_frames=2, max_frames=64, cap_pixels_per_frame=True)
    processor = Qwen2VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=template,
    )
    return model, processor


def _build_llava_onevision(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    _require_torchvision("llava_onevision")
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
        Qwen2Config,
        SiglipVisionConfig,
    )

    vision = SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=_IMG,
        patch_size=_PATCH,
        vision_use_head=False,
    )
    text = Qwen2Config(**text_kwargs)
    config = LlavaOnevisionConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        image_grid_pinpoints=_OV_PINPOINTS,
        vision_aspect_ratio="anyres_max_9",
        projector_hidden_act="gelu",
    )
    model = LlavaOnevisionForConditionalGeneration(config)
    image_processor = _image_processor(
        "LlavaOnevisionImageProcessor",
        size={"height": _IMG, "width": _IMG},
        image_grid_pinpoints=_OV_PINPOINTS,
        do_pad=True,
    )
    video_processor = LlavaOnevisionVideoProcessor(size={"height": _IMG, "width": _IMG})
    processor = LlavaOnevisionProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        num_image_tokens=(_IMG // _PATCH) ** 2,
        vision_feature_select_strategy="full",
        image_token="<image>",
        video_token="<video>",
        vision_aspect_ratio="anyres_max_9",
        chat_template=template,
    )
    return model, processor
