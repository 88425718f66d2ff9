"""Tiny builders of the families beyond LLaVA, Qwen2-VL and LLaVA-OneVision.

Each returns ``(model, processor)`` for :func:`mmalign.tiny.families.build_tiny_vlm`, with the
family's real model and processor classes (checked with transformers 5.24). Media-token counts
for a 56x56 image and an 8-frame 56x56 video (``tests/test_families.py`` checks them):

``"qwen2_5_vl"``
    ``Qwen2_5_VLForConditionalGeneration`` (window-attention vision tower, patch 14, merge 2)
    + ``Qwen2_5_VLProcessor``; Qwen2-VL's template. Image -> 4 ``<|image_pad|>``; video -> 16
    ``<|video_pad|>``.
``"qwen3_vl"``
    ``Qwen3VLForConditionalGeneration`` (patch 16, merge 2, one DeepStack layer) +
    ``Qwen3VLProcessor`` with ``Qwen3VLVideoProcessor``, which writes a ``<t seconds>`` stamp
    before every two frames. Image -> 4 ``<|image_pad|>``; video -> 4 x 4 ``<|video_pad|>``.
    Qwen3-VL-Instruct's template (no default system prompt).
``"gemma3"``
    ``Gemma3ForConditionalGeneration`` (SigLIP tower pooled to 4 tokens, Gemma 3 text model with
    sliding and global layers) + ``Gemma3Processor``. ``<start_of_image>`` -> ``\\n\\n`` +
    ``<start_of_image>`` + 4 ``<image_soft_token>`` + ``<end_of_image>\\n\\n``. The tokenizer's
    eos is ``<eos>``; turns end with ``<end_of_turn>``, which the generation config also stops on.
``"smolvlm"``
    ``SmolVLMForConditionalGeneration`` (the Idefics3 architecture: SigLIP-like tower, pixel
    shuffle) + ``SmolVLMProcessor`` with image splitting (a 56x56 image -> 2x2 crops + a global
    view, 4 ``<image>`` each) and ``SmolVLMVideoProcessor``. Turns end with ``<end_of_utterance>``.
``"internvl"``
    ``InternVLForConditionalGeneration`` (InternViT-like tower, pixel shuffle 0.5) + Qwen2 text,
    ``InternVLProcessor`` with ``GotOcr2ImageProcessor`` (one 32 px tile for a square image) and
    ``InternVLVideoProcessor``. Image -> ``<img>`` + 4 ``<IMG_CONTEXT>`` + ``</img>``; video ->
    ``FrameN: <img>…</img>`` per frame.
``"llava_next"``
    ``LlavaNextForConditionalGeneration`` (CLIP tower, anyres grid up to 64 px) +
    ``LlavaNextProcessor``; the llava-v1.6-mistral ``[INST] … [/INST]`` template.
``"llava_next_video"``
    ``LlavaNextVideoForConditionalGeneration`` + ``LlavaNextVideoProcessor`` with
    ``LlavaNextVideoVideoProcessor``: each frame pooled to 2x2 tokens (8 frames -> 32 ``<video>``).
    Vicuna template, as LLaVA-NeXT-Video-7B-hf.
``"mistral3"``
    ``Mistral3ForConditionalGeneration`` (Pixtral tower, patch merger 2) + ``PixtralProcessor``:
    an image becomes rows of ``[IMG]`` ended by ``[IMG_BREAK]``, the last by ``[IMG_END]``.
"""

from __future__ import annotations

from typing import Any

from .vision import _IMG, _PATCH, _image_processor, _require_torchvision

_QWEN3_PATCH = 16


def _mrope(head_dim: int, ratio: tuple[int, int, int]) -> list[int]:
    """M-RoPE sections (t, h, w) summing to ``head_dim / 2`` in about the ratio of the real model."""
    half = head_dim // 2
    t = max(1, half * ratio[0] // sum(ratio))
    h = (half - t) // 2
    return [t, h, half - t - h]


def _qwen_text(text_kwargs: dict[str, Any], ratio: tuple[int, int, int], **rope: Any) -> dict[str, Any]:
    text = dict(text_kwargs)
    text.pop("tie_word_embeddings")
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": _mrope(head_dim, ratio), **rope}
    return text


def _qwen_vision_ids(tokenizer: Any) -> dict[str, int]:
    return {
        "image_token_id": tokenizer.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tokenizer.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tokenizer.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tokenizer.convert_tokens_to_ids("<|vision_end|>"),
    }


def build_qwen2_5_vl(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    _require_torchvision("qwen2_5_vl")
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLVideoProcessor,
    )

    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=text_kwargs["hidden_size"],
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=56,  # 2x2 merged patches per window, so a 56 px image spans one window
        fullatt_block_indexes=[1],
        tokens_per_second=2,
    )
    config = Qwen2_5_VLConfig(
        text_config=_qwen_text(text_kwargs, (16, 24, 24)),
        vision_config=vision,
        tie_word_embeddings=False,
        **_qwen_vision_ids(tokenizer),
    )
    model = Qwen2_5_VLForConditionalGeneration(config)
    common = dict(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, temporal_patch_size=2, merge_size=2)
    processor = Qwen2_5_VLProcessor(
        image_processor=_image_processor("Qwen2VLImageProcessor", **common),
        video_processor=Qwen2VLVideoProcessor(**common, min_frames=2, max_frames=64, cap_pixels_per_frame=True),
        tokenizer=tokenizer,
        chat_template=template,
    )
    return model, processor


def build_qwen3_vl(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    _require_torchvision("qwen3_vl")
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor, Qwen3VLVideoProcessor

    text = _qwen_text(text_kwargs, (24, 20, 20), mrope_interleaved=True)
    text["head_dim"] = text["hidden_size"] // text["num_attention_heads"]
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=2,
        out_hidden_size=text_kwargs["hidden_size"],
        patch_size=_QWEN3_PATCH,
        spatial_merge_size=2,
        temporal_patch_size=2,
        num_position_embeddings=16,  # a 4x4 grid of learned positions, interpolated to the image
        deepstack_visual_indexes=[0],
    )
    config = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **_qwen_vision_ids(tokenizer))
    model = Qwen3VLForConditionalGeneration(config)
    pixels = {"shortest_edge": 64 * 64, "longest_edge": 128 * 128}
    common = dict(patch_size=_QWEN3_PATCH, temporal_patch_size=2, merge_size=2)
    processor = Qwen3VLProcessor(
        image_processor=_image_processor("Qwen2VLImageProcessor", size=pixels, **common),
        video_processor=Qwen3VLVideoProcessor(
            size={"shortest_edge": 64 * 64, "longest_edge": 64 * 64 * 64},
            min_frames=2,
            max_frames=64,
            cap_pixels_per_frame=True,
            **common,
        ),
        tokenizer=tokenizer,
        chat_template=template,
    )
    return model, processor


def build_gemma3(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3Processor,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )

    tokens_per_image = 4  # the 4x4 patch grid average-pooled to 2x2
    text = dict(text_kwargs)
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    text.update(
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,
        sliding_window=16,
        layer_types=["sliding_attention", "full_attention"],
        tie_word_embeddings=True,
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
    config = Gemma3Config(
        text_config=Gemma3TextConfig(**text),
        vision_config=vision,
        mm_tokens_per_image=tokens_per_image,
        boi_token_index=tokenizer.boi_token_id,
        eoi_token_index=tokenizer.eoi_token_id,
        image_token_index=tokenizer.image_token_id,
        tie_word_embeddings=True,
    )
    model = Gemma3ForConditionalGeneration(config)
    image_processor = _image_processor(
        "Gemma3ImageProcessor", size={"height": _IMG, "width": _IMG}, do_pan_and_scan=False
    )
    processor = Gemma3Processor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=template, image_seq_length=tokens_per_image
    )
    return model, processor


def build_smolvlm(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    _require_torchvision("smolvlm")
    from transformers import (
        LlamaConfig,
        SmolVLMConfig,
        SmolVLMForConditionalGeneration,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    scale = 2
    vision = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=_IMG, patch_size=_PATCH
    )
    config = SmolVLMConfig(
        vision_config=vision,
        text_config=LlamaConfig(**text_kwargs),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=scale,
        tie_word_embeddings=False,
    )
    model = SmolVLMForConditionalGeneration(config)
    # Images are split into _IMG-sized crops plus a global view, as SmolVLM splits into 384 px ones.
    image_processor = _image_processor(
        "SmolVLMImageProcessor",
        do_image_splitting=True,
        size={"longest_edge": 2 * _IMG},
        max_image_size={"longest_edge": _IMG},
    )
    video_processor = SmolVLMVideoProcessor(size={"longest_edge": _IMG}, max_image_size={"longest_edge": _IMG})
    processor = SmolVLMProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        image_seq_len=(_IMG // _PATCH) ** 2 // scale**2,
        chat_template=template,
    )
    return model, processor


def build_internvl(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    _require_torchvision("internvl")
    from transformers import (
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
        Qwen2Config,
    )

    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=[_IMG, _IMG],
        patch_size=[_PATCH, _PATCH],
    )
    tokens_per_tile = (_IMG // _PATCH) ** 2 // 4  # pixel shuffle with downsample ratio 0.5
    config = InternVLConfig(
        vision_config=vision,
        text_config=Qwen2Config(**text_kwargs),
        image_token_id=tokenizer.context_image_token_id,
        image_seq_length=tokens_per_tile,
        downsample_ratio=0.5,
        tie_word_embeddings=False,
    )
    model = InternVLForConditionalGeneration(config)
    image_processor = _image_processor(
        "GotOcr2ImageProcessor", size={"height": _IMG, "width": _IMG}, crop_to_patches=True, min_patches=1, max_patches=4
    )
    video_processor = InternVLVideoProcessor(size={"height": _IMG, "width": _IMG})
    processor = InternVLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        image_seq_length=tokens_per_tile,
        chat_template=template,
    )
    return model, processor


def _clip_vision() -> Any:
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=_IMG,
        patch_size=_PATCH,
        projection_dim=32,
    )


_NEXT_PINPOINTS = [[_IMG, 2 * _IMG], [2 * _IMG, _IMG], [2 * _IMG, 2 * _IMG]]


def _llava_next_image_processor() -> Any:
    return _image_processor(
        "LlavaNextImageProcessor",
        size={"shortest_edge": _IMG},
        crop_size={"height": _IMG, "width": _IMG},
        image_grid_pinpoints=_NEXT_PINPOINTS,
    )


def build_llava_next(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextProcessor, MistralConfig

    config = LlavaNextConfig(
        vision_config=_clip_vision(),
        text_config=MistralConfig(**text_kwargs, sliding_window=None),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=_NEXT_PINPOINTS,
        image_seq_length=(_IMG // _PATCH) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    model = LlavaNextForConditionalGeneration(config)
    processor = LlavaNextProcessor(
        image_processor=_llava_next_image_processor(),
        tokenizer=tokenizer,
        patch_size=_PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token="<image>",
        chat_template=template,
    )
    return model, processor


def build_llava_next_video(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    _require_torchvision("llava_next_video")
    from transformers import (
        LlamaConfig,
        LlavaNextVideoConfig,
        LlavaNextVideoForConditionalGeneration,
        LlavaNextVideoProcessor,
        LlavaNextVideoVideoProcessor,
    )

    patches = (_IMG // _PATCH) ** 2
    config = LlavaNextVideoConfig(
        vision_config=_clip_vision(),
        text_config=LlamaConfig(**text_kwargs),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=_NEXT_PINPOINTS,
        image_seq_length=patches,
        video_seq_length=patches // 4,
        spatial_pool_stride=2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    model = LlavaNextVideoForConditionalGeneration(config)
    video_processor = LlavaNextVideoVideoProcessor(
        size={"shortest_edge": _IMG}, crop_size={"height": _IMG, "width": _IMG}, do_center_crop=True
    )
    processor = LlavaNextVideoProcessor(
        video_processor=video_processor,
        image_processor=_llava_next_image_processor(),
        tokenizer=tokenizer,
        patch_size=_PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=template,
    )
    return model, processor


def build_mistral3(tokenizer: Any, template: str, text_kwargs: dict[str, Any]) -> tuple[Any, Any]:
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration, MistralConfig, PixtralProcessor

    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=2 * _IMG,
        patch_size=_PATCH,
        head_dim=16,
    )
    config = Mistral3Config(
        vision_config={"model_type": "pixtral", **vision},
        text_config=MistralConfig(**text_kwargs, sliding_window=None),
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
        spatial_merge_size=2,
        vision_feature_layer=-1,
        tie_word_embeddings=False,
    )
    model = Mistral3ForConditionalGeneration(config)
    image_processor = _image_processor(
        "PixtralImageProcessor", size={"longest_edge": 2 * _IMG}, patch_size={"height": 2 * _PATCH, "width": 2 * _PATCH}
    )
    processor = PixtralProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=_PATCH,
        spatial_merge_size=2,
        chat_template=template,
    )
    return model, processor


BUILDERS = {
    "qwen2_5_vl": build_qwen2_5_vl,
    "qwen3_vl": build_qwen3_vl,
    "gemma3": build_gemma3,
    "smolvlm": build_smolvlm,
    "internvl": build_internvl,
    "llava_next": build_llava_next,
    "llava_next_video": build_llava_next_video,
    "mistral3": build_mistral3,
}
