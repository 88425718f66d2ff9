"""Small deterministic tokenizers trained offline with the ``tokenizers`` library.

``train_tokenizer`` trains a byte-level BPE, WordPiece or Metaspace (SentencePiece-like) tokenizer
on the caller's text plus a built-in English word list, and wraps it for ``transformers``.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import transformers

__all__ = ["BUILTIN_WORDS", "TOKENIZER_KINDS", "train_tokenizer"]

TOKENIZER_KINDS = ("bpe", "wordpiece", "metaspace")
_KIND_ALIASES = {"sentencepiece": "metaspace", "byte_level": "bpe", "bytelevel": "bpe"}

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
    named_tokens: Mapping[str, str] | None = None,
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
        named_tokens: model-specific names of extra special tokens that processors read from the
            tokenizer (e.g. ``{"boi_token": "<start_of_image>"}`` for Gemma 3's processor, which
            then finds ``tokenizer.boi_token`` and ``tokenizer.boi_token_id``). Each value must be
            one of ``extra_special_tokens``; the names are saved in ``tokenizer_config.json``.

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
    for name, value in (named_tokens or {}).items():
        if not name.endswith("_token") or value not in extras:
            raise ValueError(f"named token {name}={value!r} must end in '_token' and be an extra special token")
    wrapper = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        extra_special_tokens=list(extras),
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
        **named,
        **(named_tokens or {}),
    )
    return wrapper
