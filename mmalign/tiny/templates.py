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

CHAT_TEMPLATES: dict[str, str] = {
    "llava": _LLAVA_TEMPLATE,
    "qwen2_vl": _QWEN2_VL_TEMPLATE,
    "llava_onevision": _LLAVA_OV_TEMPLATE,
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
}
