"""Tiny, randomly initialised but fully real Hugging Face vision-language models, built offline.

The test suite and the CPU demo recipe need real models that go through the real loading path
(``AutoModelForImageTextToText.from_pretrained`` / ``AutoProcessor.from_pretrained``) without any
download. This module trains a small tokenizer on the fly with the ``tokenizers`` library, builds
a model of the requested family from a tiny config, and saves model + processor with
``save_pretrained`` (see DESIGN.md §7).

Families (``build_tiny_vlm(family=...)``):

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

Calling the processors (what was checked with transformers 5.23):

* images: ``processor(text=[...], images=[img, ...], return_tensors="pt", padding=True)``; the
  number of image placeholders in the texts must equal the number of images. The placeholders
  are expanded by the processor, so a rendered chat template holds exactly one per image.
* videos (``qwen2_vl``, ``llava_onevision``): pass already-decoded frames, one entry per video,
  as a uint8 array ``(T, H, W, 3)`` or a list of PIL images, e.g.
  ``processor(text=[...], videos=[read_video(path)], return_tensors="pt")``. Both video
  processors default to ``do_sample_frames=False``, so the frames given are used as they are
  and no ``video_metadata`` is needed. To let the processor sample frames instead, pass
  ``do_sample_frames=True`` with ``num_frames=...`` (or ``fps=...`` plus ``video_metadata``).
  Qwen2-VL needs the number of frames to be a multiple of ``temporal_patch_size`` (2) or it
  repeats the last frame.
* ``llava_onevision`` image batches are padded to the largest number of anyres crops; the model
  unpads using ``image_sizes`` which the processor returns; pass everything it returns.
* Qwen2-VL's processor also returns ``mm_token_type_ids``; the model accepts it.

All chat templates mark the assistant's answer with ``{% generation %}`` so that
``return_assistant_tokens_mask=True`` works, and rendering ``messages[:-1]`` with
``add_generation_prompt=True`` is a prefix of rendering the full conversation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import string
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import transformers
    from PIL import Image

__all__ = [
    "FAMILIES",
    "TOKENIZER_KINDS",
    "BUILTIN_WORDS",
    "train_tokenizer",
    "build_tiny_vlm",
    "build_cached",
    "make_image",
    "write_video",
    "read_video",
]

FAMILIES = ("llava", "qwen2_vl", "llava_onevision")
TOKENIZER_KINDS = ("bpe", "wordpiece", "metaspace")
_KIND_ALIASES = {"sentencepiece": "metaspace", "byte_level": "bpe", "bytelevel": "bpe"}

# Bumped whenever the produced files change, so that cached builds are rebuilt.
_FORMAT_VERSION = 1
_MARKER = "mmalign_tiny.json"

# fmt: off
BUILTIN_WORDS: tuple[str, ...] = tuple("""
the a an and or but if then than that this these those there here is are was were be been being
am do does did done have has had having will would can could should may might must shall not no
yes of in on at to from by with without for about above below under over between behind beside
near far left right top bottom middle center front back inside outside into onto out up down off
through around across along against among before after during while when where what which who whom
whose why how all any both each few more most other some such only own same so too very just also
again once still even ever never always often sometimes usually already yet now soon today
i me my mine you your yours he him his she her hers it its we us our ours they them their theirs
one two three four five six seven eight nine ten first second third last next many much several
image picture photo photograph video clip frame scene view shot camera background foreground
shows show shown showing see seen sees look looks looking appear appears appearing visible
contains contain containing depicts depict depicting there's it's isn't aren't doesn't don't can't
red green blue yellow orange purple pink brown black white gray grey dark light bright colorful
colour color colors small large big little tiny huge tall short long wide narrow round square
circle circles square squares triangle triangles rectangle shape shapes line lines dot dots
star box ball cube object objects thing things part side corner edge surface pattern
man woman men women person people boy girl child children baby player players group crowd
dog dogs cat cats horse bird birds cow sheep fish animal animals bear elephant giraffe zebra
car cars bus truck train bike bicycle motorcycle boat plane airplane road street sign light
table chair bed sofa couch desk room kitchen window door wall floor house building tree trees
grass sky cloud clouds water sea beach river mountain field snow rain sun food plate bowl cup
pizza cake banana apple sandwich bottle glass phone computer laptop book clock kite umbrella
standing sitting walking running riding holding playing eating wearing moving moves move
flying jumping lying turning falling rolling spinning going coming taking making using
is_not answer question describe describes description detail details detailed briefly brief
caption summary what's where's who's yes no true false correct incorrect count number
hello world test example please thank thanks sure okay well good bad best better new old
user assistant system helpful human gpt response prompt reply says said say tell told
time times second seconds minute minutes start end beginning during happens happened
""".split())
# fmt: on

_PUNCTUATION_LINES = (
    "Hello, world! How are you? I'm fine; thanks: (really) [yes] {no} \"quoted\" 'single' - a/b",
    "The image shows a red circle on a blue background. It's small, isn't it?",
    "Q: What is in the picture? A: A cat, a dog and 3 birds... 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.",
    "USER: <image>\nDescribe the image. ASSISTANT: There is a green square in the center.",
    "Is there a dog? No, there isn't. Yes, there is! 100% sure & 50/50 #1 @home $5 *star* ~ok^ _x_ =+|<>`",
)

_CHAT_LINES = (
    "system\nYou are a helpful assistant.",
    "user\nWhat is in the image?",
    "assistant\nThe image shows a cat.",
    "USER: What is shown? ASSISTANT: A dog.",
    "\nUSER: Describe the video. ASSISTANT: A ball moves.",
)


def _resolve_kind(kind: str) -> str:
    k = _KIND_ALIASES.get(kind.lower(), kind.lower())
    if k not in TOKENIZER_KINDS:
        raise ValueError(
            f"unknown tokenizer kind {kind!r}; expected one of {TOKENIZER_KINDS} (or 'sentencepiece')"
        )
    return k


def _training_lines(corpus: Iterable[str]) -> list[str]:
    """The user corpus followed by the built-in English words and punctuation.

    Words are repeated in sentence-like lines (lower-case and Capitalised, after a space and at
    the start of a line) so that byte-level BPE learns both ``word`` and ``Ġword`` forms.
    """
    lines = [str(x) for x in corpus]
    words = list(BUILTIN_WORDS)
    chunk = 12
    for rep in range(3):
        for i in range(0, len(words), chunk):
            part = words[i : i + chunk]
            lines.append(" ".join(part) + ".")
            lines.append(" ".join(w.capitalize() for w in part) + ",")
            lines.append(" " + " ".join(reversed(part)) + "?")
    lines.extend(_PUNCTUATION_LINES * 3)
    # Chat scaffolding of the family templates, so role names become single tokens.
    lines.extend(_CHAT_LINES * 8)
    lines.append(string.printable)
    return lines


def _default_specials(kind: str) -> dict[str, str | None]:
    if kind == "bpe":
        return {"bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|pad|>", "unk_token": None}
    if kind == "wordpiece":
        return {"bos_token": "[CLS]", "eos_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]"}
    return {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def train_tokenizer(
    corpus: Iterable[str],
    kind: str = "bpe",
    vocab_size: int = 512,
    *,
    special_tokens: Mapping[str, str | None] | None = None,
    extra_special_tokens: Sequence[str] = (),
    add_bos_token: bool | None = None,
) -> transformers.PreTrainedTokenizerFast:
    """Train a small tokenizer with the ``tokenizers`` library and wrap it for ``transformers``.

    Args:
        corpus: training text; a built-in list of common English words, punctuation and all
            printable ASCII characters is always appended, so short English sentences tokenize
            into sensible pieces (and without ``[UNK]``) even for an empty corpus.
        kind: ``"bpe"``: byte-level BPE (GPT-2 / Qwen style; ``ByteLevel`` pre-tokenizer and
            decoder; offsets trimmed of the leading space, so ``"Ġcat"`` maps to ``"cat"``; never
            produces unknown tokens). ``"wordpiece"``: BERT style (cased ``BertNormalizer``,
            whitespace + punctuation pre-tokenizer, ``##`` continuation pieces). ``"metaspace"``
            (alias ``"sentencepiece"``): BPE over words marked with ``▁`` by a ``Metaspace``
            pre-tokenizer, as LLaMA's SentencePiece model (without byte fallback: characters
            never seen in training become ``<unk>``); the offsets of a ``▁word`` piece include
            the space that ``▁`` replaces (the first word has no space to include).
        vocab_size: size of the trained vocabulary (an upper bound: the trainers may stop
            earlier on a small corpus); the special tokens other than ``unk`` are added on top.
        special_tokens: overrides of ``bos_token``, ``eos_token``, ``pad_token``, ``unk_token``
            (``None`` removes one). Defaults per kind: bpe ``<|endoftext|>`` eos, ``<|pad|>``
            pad, no bos; wordpiece ``[CLS]`` / ``[SEP]`` / ``[PAD]`` / ``[UNK]``; metaspace
            ``<s>`` / ``</s>`` / ``<pad>`` / ``<unk>``. ``unk`` is ignored by the byte-level BPE.
        extra_special_tokens: more special tokens (chat and media tokens, e.g. ``<image>``);
            each is one token, never split and never merged with text.
        add_bos_token: prepend the bos token on ``encode``/``__call__`` (with
            ``add_special_tokens=True``). Default: only for ``"metaspace"``.

    Returns:
        A ``PreTrainedTokenizerFast`` (``TokenizersBackend`` in transformers 5) whose special
        tokens sit after the trained vocabulary, in the order bos, eos, pad, extras.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    kind = _resolve_kind(kind)
    specials: dict[str, str | None] = _default_specials(kind)
    if special_tokens:
        unknown = set(special_tokens) - set(specials)
        if unknown:
            raise ValueError(f"unknown special token names {sorted(unknown)}; expected {sorted(specials)}")
        specials.update(special_tokens)
    if kind == "bpe":
        specials["unk_token"] = None
    elif specials["unk_token"] is None:
        raise ValueError(f"a {kind!r} tokenizer needs an unk_token")
    if add_bos_token is None:
        add_bos_token = kind == "metaspace"
    if add_bos_token and not specials["bos_token"]:
        raise ValueError("add_bos_token=True needs a bos_token")

    lines = _training_lines(corpus)
    # Every character of the training text, in a fixed order. The trainers collect symbols in
    # hash maps; seeding them with a sorted alphabet makes the ids, hence the tie-breaks between
    # equally frequent merges, and so the whole tokenizer, deterministic.
    chars = sorted({ch for line in lines for ch in line if not ch.isspace()} | {" "})
    unk = specials["unk_token"]

    if kind == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            special_tokens=[],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        base_processor: Any = processors.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    elif kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=unk, continuing_subword_prefix="##"))
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        word_chars = [c for c in chars if c != " "]
        # The "##x" continuation symbols would otherwise get ids in hash-map order (see above);
        # listing them as (temporary) special tokens fixes their ids. They are turned back into
        # ordinary vocabulary entries below.
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=1,
            special_tokens=[unk] + ["##" + c for c in word_chars],
            initial_alphabet=word_chars,
            continuing_subword_prefix="##",
            show_progress=False,
        )
        base_processor = None
    else:  # metaspace: BPE over "▁"-marked words, as LLaMA's SentencePiece model
        tok = Tokenizer(models.BPE(unk_token=unk, fuse_unk=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            special_tokens=[unk],
            initial_alphabet=[c for c in chars if c != " "] + ["▁"],
            show_progress=False,
        )
        base_processor = None

    tok.train_from_iterator(lines, trainer=trainer, length=len(lines))
    if kind == "wordpiece":
        vocab = tok.get_vocab(with_added_tokens=False)
        trained = Tokenizer(models.WordPiece(vocab=vocab, unk_token=unk, continuing_subword_prefix="##"))
        trained.normalizer = tok.normalizer
        trained.pre_tokenizer = tok.pre_tokenizer
        trained.decoder = tok.decoder
        trained.add_special_tokens([unk])
        tok = trained
    elif unk is not None:
        tok.add_special_tokens([unk])

    added: list[str] = []
    for name in ("bos_token", "eos_token", "pad_token"):
        value = specials[name]
        if value and value not in added and value != unk:
            added.append(value)
    for value in extra_special_tokens:
        if value not in added and value != unk:
            added.append(value)
    tok.add_special_tokens(added)

    if add_bos_token:
        bos = specials["bos_token"]
        assert bos is not None
        template = processors.TemplateProcessing(
            single=f"{bos}:0 $A:0",
            pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
            special_tokens=[(bos, tok.token_to_id(bos))],
        )
        # The ByteLevel processor must stay first: it trims the leading space off the offsets.
        tok.post_processor = (
            processors.Sequence([base_processor, template]) if base_processor is not None else template
        )
    elif base_processor is not None:
        tok.post_processor = base_processor

    # Do NOT pass add_bos_token/add_eos_token to the wrapper: transformers then replaces the whole
    # post-processor with a TemplateProcessing, which drops the ByteLevel offset trimming.
    named = {k: v for k, v in specials.items() if v}
    extras = [t for t in extra_special_tokens if t not in named.values()]
    wrapper = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        extra_special_tokens=list(extras),
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
        **named,
    )
    return wrapper


# --------------------------------------------------------------------------------------------
# chat templates
# --------------------------------------------------------------------------------------------

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

# Sizes shared by the tiny text models.
_TEXT = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
)
_FAMILY_VOCAB = 1024  # trained vocabulary of the family tokenizers (+ special tokens)
_IMG = 32  # CLIP / SigLIP tower input size
_PATCH = 8  # CLIP / SigLIP patch size -> (32 / 8)^2 = 16 patches
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


def _read_marker(path: Path, marker: str = _MARKER) -> dict[str, Any] | None:
    try:
        return json.loads((path / marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(path: Path, spec: Mapping[str, Any], marker: str = _MARKER) -> bool:
    found = _read_marker(path, marker)
    if found is None:
        return False
    return all(found.get(k) == v for k, v in spec.items())


def build_cached(
    output_dir: str | Path,
    spec: Mapping[str, Any],
    build: Callable[[Path], None],
    marker: str = _MARKER,
    what: str = "tiny model build",
) -> Path:
    """Run ``build(tmp_dir)`` unless ``output_dir`` already holds a build with ``spec``.

    The build is written to a temporary sibling directory and moved into place, with the JSON
    ``marker`` (holding ``spec``) written last, so a directory is either absent, complete or a
    previous complete build. A build with another spec is replaced; a non-empty directory
    without the marker raises ``FileExistsError``. Concurrent builders of the same directory (e.g.
    pytest-xdist workers) are safe: the loser discards its copy.
    """
    output_dir = Path(output_dir)
    if _is_complete(output_dir, spec, marker):
        return output_dir
    if output_dir.exists():
        if not output_dir.is_dir():
            raise FileExistsError(f"{output_dir} exists and is not a directory")
        if any(output_dir.iterdir()) and _read_marker(output_dir, marker) is None:
            raise FileExistsError(f"{output_dir} is not empty and does not hold a {what}; refusing to overwrite")

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.tmp-", dir=output_dir.parent))
    try:
        build(tmp)
        (tmp / marker).write_text(json.dumps(dict(spec), indent=2) + "\n", encoding="utf-8")
        if output_dir.exists():
            if _is_complete(output_dir, spec, marker):  # someone else finished first
                return output_dir
            shutil.rmtree(output_dir)
        try:
            os.replace(tmp, output_dir)
        except OSError:
            if _is_complete(output_dir, spec, marker):  # a concurrent builder won the race
                return output_dir
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return output_dir


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

    Caching: the build is written to a temporary sibling directory and moved into place, with a
    ``mmalign_tiny.json`` marker written last. If ``output_dir`` already holds a complete build
    with the same settings it is returned as is; a build with other settings is replaced; a
    non-empty directory that is not such a build raises ``FileExistsError``. Concurrent builders
    of the same directory (e.g. pytest-xdist workers) are safe: the loser discards its copy.

    Args:
        family: ``"llava"``, ``"qwen2_vl"`` or ``"llava_onevision"`` (see the module docstring).
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
    return build_cached(output_dir, spec, lambda tmp: _build_into(tmp, family, corpus_list, tokenizer_kind, int(seed)))


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

    builder = {"llava": _build_llava, "qwen2_vl": _build_qwen2_vl, "llava_onevision": _build_llava_onevision}
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model, processor = builder[family](tokenizer, template, text_kwargs)
    model.eval()
    # transformers 5 keeps the token ids in the text config; real Hub checkpoints (llava-1.5-hf,
    # Qwen2-VL) also carry them at the top level, where some callers look: set both.
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(model.config, name, ids[name])
    model.generation_config = GenerationConfig(
        bos_token_id=ids["bos_token_id"],
        eos_token_id=ids["eos_token_id"],
        pad_token_id=ids["pad_token_id"],
        do_sample=False,
    )
    from transformers.utils import logging as hf_logging

    bars_were_disabled = hf_logging.is_progress_bar_enabled() is False
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        processor.save_pretrained(path)
    finally:
        if not bars_were_disabled:
            hf_logging.enable_progress_bar()


def _image_processor(name: str, **kwargs: Any) -> Any:
    """The torchvision-backed image processor ``name`` where torchvision is installed, else its
    PIL twin ``<name>Pil`` (transformers 5 ships both; ``AutoProcessor`` picks the same way)."""
    import transformers
    from transformers.utils import is_torchvision_available

    return getattr(transformers, name if is_torchvision_available() else name + "Pil")(**kwargs)


def _require_torchvision(family: str) -> None:
    from transformers.utils import is_torchvision_available

    if not is_torchvision_available():
        raise ImportError(
            f"the tiny {family!r} model needs torchvision: transformers' video processors are "
            "torchvision-only (install torch and torchvision as a matching pair, see DESIGN.md §7)"
        )


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


# --------------------------------------------------------------------------------------------
# media helpers
# --------------------------------------------------------------------------------------------

_COLOURS = (
    ("red", (220, 40, 40)),
    ("green", (40, 180, 60)),
    ("blue", (40, 80, 220)),
    ("yellow", (235, 210, 40)),
    ("purple", (150, 60, 190)),
    ("orange", (245, 140, 30)),
    ("white", (245, 245, 245)),
    ("black", (15, 15, 15)),
)
_SHAPES = ("circle", "square", "triangle")


def describe_image(seed: int) -> str:
    """A caption for ``make_image(seed)``, e.g. ``"a red circle on a blue background"``."""
    shape, fg, bg = _image_params(seed)
    return f"a {_COLOURS[fg][0]} {shape} on a {_COLOURS[bg][0]} background"


def _image_params(seed: int) -> tuple[str, int, int]:
    import random

    rng = random.Random(seed)
    shape = rng.choice(_SHAPES)
    fg = rng.randrange(len(_COLOURS))
    bg = (fg + 1 + rng.randrange(len(_COLOURS) - 1)) % len(_COLOURS)
    return shape, fg, bg


def _draw(
    shape: str, fg: tuple[int, int, int], bg: tuple[int, int, int], size: int, cx: float, cy: float, r: float
) -> Image.Image:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=fg)
    elif shape == "square":
        draw.rectangle(box, fill=fg)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
    return img


def make_image(seed: int, size: int = 56) -> Image.Image:
    """A deterministic RGB picture: one coloured shape (circle, square or triangle) on a plain
    background of another colour, at a seed-dependent position. See ``describe_image``."""
    import random

    shape, fg, bg = _image_params(seed)
    rng = random.Random(seed * 7919 + 1)
    r = size * (0.18 + 0.12 * rng.random())
    cx = r + (size - 2 * r) * rng.random()
    cy = r + (size - 2 * r) * rng.random()
    return _draw(shape, _COLOURS[fg][1], _COLOURS[bg][1], size, cx, cy, r)


def write_video(
    path: str | Path,
    num_frames: int = 8,
    size: int = 56,
    fps: int = 4,
    seed: int = 0,
    *,
    codec: str = "mpeg4",
) -> Path:
    """Write a small real video: the shape of ``make_image(seed)`` moving left to right.

    Encoded with PyAV (``.mp4`` container; ``codec`` ``"mpeg4"`` by default, ``"libx264"`` also
    works here; both decode with PyAV's bundled ffmpeg), ``yuv420p``, so ``size`` is rounded up to
    an even number. Frames are all key frames so any frame decodes exactly. Returns ``path``.
    """
    import random

    import av
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = size + (size % 2)
    shape, fg, bg = _image_params(seed)
    rng = random.Random(seed * 104729 + 3)
    r = size * (0.15 + 0.08 * rng.random())
    cy = r + (size - 2 * r) * rng.random()
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = size
        stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.gop_size = 1
        if codec == "mpeg4":
            stream.options = {"qscale": "2"}  # near-lossless
        for i in range(num_frames):
            cx = r + (size - 2 * r) * (i / max(1, num_frames - 1))
            img = _draw(shape, _COLOURS[fg][1], _COLOURS[bg][1], size, cx, cy, r)
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_video(path: str | Path, num_frames: int | None = None) -> np.ndarray:
    """Decode a video with PyAV into a uint8 array ``(T, H, W, 3)`` (RGB).

    With ``num_frames``, that many frames are picked uniformly over the whole video (the first
    and the last included). The result can be passed to the processors as ``videos=[frames]``.
    """
    import av
    import numpy as np

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path}: no video frames decoded")
    if num_frames is not None and num_frames < len(frames):
        if num_frames <= 1:
            idx = [0]
        else:
            idx = [round(i * (len(frames) - 1) / (num_frames - 1)) for i in range(num_frames)]
        frames = [frames[i] for i in idx]
    return np.stack(frames)

