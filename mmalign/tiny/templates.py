"""Chat templates and special tokens of the tiny model families.

Each template follows its family's real format (see :mod:`mmalign.tiny.families`), marks the
assistant's answer with ``{% generation %}`` so that ``return_assistant_tokens_mask=True`` works,
and renders ``messages[:-1]`` with ``add_generation_prompt=True`` as a prefix of the full
conversation.
"""

from __future__ import annotations

__all__ = ["CHAT_TEMPLATES"]

# Shared prologue: normalise a message's content to a list of items.
_ITEMS = (
    "{%- if message['content'] is string -%}"
    "{%- set items = [{'type': 'text', 'text': message['content']}] -%}"
    "{%- else -%}{%- set items = message['content'] -%}{%- endif -%}"
)

_LLAVA_TEMPLATE = (
    "{%- for message in messages -%}"
    + _ITEMS
    + "{%- if message['role'] == 'system' -%}"
    "{%- for c in items if c['type'] == 'text' -%}{{ c['text'] }}{% if not loop.last %} {% endif %}{%- endfor -%}"
    "{{ '\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ 'ASSISTANT:' }}{% generation %}{{ ' ' }}"
    "{%- for c in items if c['type'] == 'text' -%}{{ c['text'] }}{% if not loop.last %} {% endif %}{%- endfor -%}"
    "{{ '</s>' }}{% endgeneration %}"
    "{%- else -%}"
    "{{ 'USER: ' }}"
    "{%- for c in items if c['type'] == 'image' -%}{{ '<image>\\n' }}{%- endfor -%}"
    "{%- for c in items if c['type'] == 'text' -%}{{ c['text'] }}{% if not loop.last %} {% endif %}{%- endfor -%}"
    "{{ ' ' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)

_QWEN2_VL_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    + _ITEMS
    + "{%- set ns = namespace(text='') -%}"
    "{%- for c in items -%}"
    "{%- if c['type'] == 'image' or 'image' in c or 'image_url' in c -%}"
    "{%- set ns.text = ns.text + '<|vision_start|><|image_pad|><|vision_end|>' -%}"
    "{%- elif c['type'] == 'video' or 'video' in c -%}"
    "{%- set ns.text = ns.text + '<|vision_start|><|video_pad|><|vision_end|>' -%}"
    "{%- elif 'text' in c -%}{%- set ns.text = ns.text + c['text'] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ ns.text + '<|im_end|>' }}{% endgeneration %}"
    "{%- else -%}{{ ns.text + '<|im_end|>' }}{%- endif -%}"
    "{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

_LLAVA_OV_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif -%}"
    + _ITEMS
    + "{%- set ns = namespace(text='') -%}"
    "{%- for c in items if c['type'] == 'image' -%}{%- set ns.text = ns.text + '<image>\\n' -%}{%- endfor -%}"
    "{%- for c in items if c['type'] == 'video' -%}{%- set ns.text = ns.text + '<video>\\n' -%}{%- endfor -%}"
    "{%- for c in items if c['type'] == 'text' -%}"
    "{%- set ns.text = ns.text + c['text'] + ('' if loop.last else '\\n') -%}"
    "{%- endfor -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ ns.text + '<|im_end|>' }}{% endgeneration %}"
    "{%- else -%}{{ ns.text + '<|im_end|>' }}{%- endif -%}"
    "{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# LLaVA-NeXT-Video-7B-hf speaks Vicuna as llava-1.5 does, with <video> placed like <image>.
_IMAGE_LINE = "{%- for c in items if c['type'] == 'image' -%}{{ '<image>\\n' }}{%- endfor -%}"
_LLAVA_VIDEO_TEMPLATE = _LLAVA_TEMPLATE.replace(_IMAGE_LINE, _IMAGE_LINE + _IMAGE_LINE.replace("image", "video"))

# Qwen3-VL (Instruct): Qwen2-VL's format without the default system prompt.
_QWEN3_VL_TEMPLATE = _QWEN2_VL_TEMPLATE.replace(
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}", ""
)

# LLaVA-NeXT (llava-v1.6-mistral-7b-hf): Mistral's [INST] format; the tokenizer adds <s>.
_LLAVA_NEXT_TEMPLATE = (
    "{%- for message in messages -%}"
    + _ITEMS
    + "{%- if message['role'] == 'system' -%}"
    "{{ '<<SYS>>\\n' }}"
    "{%- for c in items if c['type'] == 'text' -%}{{ c['text'] }}{%- endfor -%}"
    "{{ '\\n<</SYS>>\\n\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' ' }}{% generation %}"
    "{%- for c in items if c['type'] == 'text' -%}{{ c['text'] }}{% if not loop.last %} {% endif %}{%- endfor -%}"
    "{{ '</s>' }}{% endgeneration %}"
    "{%- else -%}"
    "{{ '[INST] ' }}"
    "{%- for c in items if c['type'] == 'image' -%}{{ '<image>\\n' }}{%- endfor -%}"
    "{%- for c in items if c['type'] == 'text' -%}{{ c['text'] }}{% if not loop.last %} {% endif %}{%- endfor -%}"
    "{{ ' [/INST]' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# Gemma 3 (gemma-3-*-it): <bos>, turns <start_of_turn>user|model ... <end_of_turn>, the system
# prompt folded into the first user turn, images as <start_of_image> (the processor expands it).
_GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- set ns = namespace(prefix='') -%}"
    "{%- for message in messages -%}"
    + _ITEMS
    + "{%- set ns2 = namespace(text='') -%}"
    "{%- for c in items -%}"
    "{%- if c['type'] == 'image' -%}{%- set ns2.text = ns2.text + '<start_of_image>' -%}"
    "{%- elif c['type'] == 'text' -%}{%- set ns2.text = ns2.text + (c['text'] | trim) -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.prefix = ns2.text + '\\n\\n' -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '<start_of_turn>model\\n' }}{% generation %}{{ ns2.text + '<end_of_turn>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<start_of_turn>user\\n' + ns.prefix + ns2.text + '<end_of_turn>\\n' }}{%- set ns.prefix = '' -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)

# SmolVLM2: <|im_start|> once, then "Role:" turns ended by <end_of_utterance>; media inline.
_SMOLVLM_TEMPLATE = (
    "{{ '<|im_start|>' }}"
    "{%- for message in messages -%}"
    + _ITEMS
    + "{{ message['role'] | capitalize }}"
    "{%- if items[0]['type'] in ('image', 'video') -%}{{ ':' }}{%- else -%}{{ ': ' }}{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{% generation %}"
    "{%- for c in items if c['type'] == 'text' -%}{{ c['text'] }}{%- endfor -%}"
    "{{ '<end_of_utterance>' }}{% endgeneration %}"
    "{%- else -%}"
    "{%- for c in items -%}"
    "{%- if c['type'] == 'text' -%}{{ c['text'] }}"
    "{%- elif c['type'] == 'image' -%}{{ '<image>' }}"
    "{%- elif c['type'] == 'video' -%}{{ '<video>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{ '<end_of_utterance>' }}"
    "{%- endif -%}"
    "{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'Assistant:' }}{%- endif -%}"
)

# InternVL (the transformers-native *-hf checkpoints): ChatML turns, each image as
# <IMG_CONTEXT> and each video as <video> on its own line (the processor expands both).
_INTERNVL_TEMPLATE = (
    "{%- for message in messages -%}"
    + _ITEMS
    + "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- set ns = namespace(text='') -%}"
    "{%- for c in items -%}"
    "{%- if c['type'] == 'image' -%}{%- set ns.text = ns.text + '<IMG_CONTEXT>\\n' -%}"
    "{%- elif c['type'] == 'video' -%}{%- set ns.text = ns.text + '<video>\\n' -%}"
    "{%- elif c['type'] == 'text' -%}{%- set ns.text = ns.text + c['text'] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ ns.text + '<|im_end|>' }}{% endgeneration %}"
    "{%- else -%}{{ ns.text + '<|im_end|>' }}{%- endif -%}"
    "{{ '\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# Mistral 3 / Pixtral (Mistral-Small-3.1-*-Instruct): <s>, [SYSTEM_PROMPT]…[/SYSTEM_PROMPT],
# [INST]…[/INST] with images as [IMG] (the processor expands it into rows), answers end with </s>.
_MISTRAL3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    + _ITEMS
    + "{%- set ns = namespace(text='') -%}"
    "{%- for c in items -%}"
    "{%- if c['type'] == 'image' -%}{%- set ns.text = ns.text + '[IMG]' -%}"
    "{%- elif c['type'] == 'text' -%}{%- set ns.text = ns.text + c['text'] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if message['role'] == 'system' -%}{{ '[SYSTEM_PROMPT]' + ns.text + '[/SYSTEM_PROMPT]' }}"
    "{%- elif message['role'] == 'assistant' -%}{% generation %}{{ ns.text + '</s>' }}{% endgeneration %}"
    "{%- else -%}{{ '[INST]' + ns.text + '[/INST]' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

CHAT_TEMPLATES: dict[str, str] = {
    "llava": _LLAVA_TEMPLATE,
    "qwen2_vl": _QWEN2_VL_TEMPLATE,
    "llava_onevision": _LLAVA_OV_TEMPLATE,
    "qwen2_5_vl": _QWEN2_VL_TEMPLATE,  # Qwen2.5-VL kept Qwen2-VL's template
    "qwen3_vl": _QWEN3_VL_TEMPLATE,
    "gemma3": _GEMMA3_TEMPLATE,
    "smolvlm": _SMOLVLM_TEMPLATE,
    "internvl": _INTERNVL_TEMPLATE,
    "llava_next": _LLAVA_NEXT_TEMPLATE,
    "llava_next_video": _LLAVA_VIDEO_TEMPLATE,
    "mistral3": _MISTRAL3_TEMPLATE,
}

# Special tokens per family: (named special tokens, extra special tokens, add_bos_token).
_FAMILY_TOKENS: dict[str, tuple[dict[str, str | None], tuple[str, ...], bool]] = {
    "llava": (
        {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"},
        ("<image>",),
        True,
    ),
    "qwen2_vl": (
        {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>"},
        ("<|im_start|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"),
        False,
    ),
    "llava_onevision": (
        {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>"},
        ("<|im_start|>", "<image>", "<video>"),
        False,
    ),
    "gemma3": (
        {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"},
        ("<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"),
        True,
    ),
    "smolvlm": (
        {"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "pad_token": "<|im_end|>", "unk_token": "<unk>"},
        ("<fake_token_around_image>", "<image>", "<global-img>", "<video>")
        + tuple(f"<row_{r}_col_{c}>" for r in range(1, 5) for c in range(1, 5)),
        False,
    ),
    "internvl": (
        {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>"},
        ("<|im_start|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"),
        False,
    ),
    "llava_next": (
        {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"},
        ("<image>",),
        True,
    ),
    "llava_next_video": (
        {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"},
        ("<image>", "<video>"),
        True,
    ),
    "mistral3": (
        {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"},
        ("[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]", "[IMG]", "[IMG_BREAK]", "[IMG_END]"),
        True,
    ),
}
_FAMILY_TOKENS["qwen2_5_vl"] = _FAMILY_TOKENS["qwen3_vl"] = _FAMILY_TOKENS["qwen2_vl"]

# Names under which a family's processor looks its tokens up on the tokenizer.
_NAMED_TOKENS: dict[str, dict[str, str]] = {
    "gemma3": {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"},
    "internvl": {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    },
    "smolvlm": {
        "fake_image_token": "<fake_token_around_image>",
        "image_token": "<image>",
        "global_image_token": "<global-img>",
        "video_token": "<video>",
    },
}

# End-of-turn tokens that stop generation besides the tokenizer's eos (the checkpoint's
# generation_config.eos_token_id lists both: Gemma 3's eos is <eos>, its turns end <end_of_turn>).
_END_OF_TURN: dict[str, tuple[str, ...]] = {"gemma3": ("<end_of_turn>",)}
