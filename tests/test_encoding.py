"""Tests of mmalign.data.encoding / dataset: chat rendering through real (tiny) processors,
response masks and tokenizer-agnostic phrase -> token mapping, checked independently by decoding.

The checks never reuse the library's offset logic: they decode the selected token ids and compare
with the texts, modulo each tokenizer's whitespace conventions (byte-level BPE keeps a leading
space in a word's token, WordPiece decodes with spaces around punctuation, Metaspace writes "▁").
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from transformers import AutoProcessor

from mmalign.data.dataset import (
    MediaOptions,
    PairDataset,
    PreferenceCollator,
    validate_dataset,
)
from mmalign.data.readers import read_conversations, read_pairs
from mmalign.data.tags import parse_tags
from mmalign.errors import DataError
from mmalign.tiny import build_tiny_vlm, make_image, write_video

# family -> (end-of-turn marker, what the rendered text holds right before a response, image token,
#            tokens per 56x56 image)
FAMILY = {
    "llava": ("</s>", "ASSISTANT:", "<image>", 16),
    "qwen2_vl": ("<|im_end|>", "<|im_start|>assistant", "<|image_pad|>", 4),
}
MODELS = {  # test id -> (family, tokenizer kind)
    "llava-bpe": ("llava", "bpe"),
    "llava-wordpiece": ("llava", "wordpiece"),
    "llava-metaspace": ("llava", "metaspace"),
    "qwen2_vl-bpe": ("qwen2_vl", "bpe"),
}

PAIRS = [
    {
        "id": "pair-short",
        "prompt": "<image>\nWhat is in the image?",
        "chosen": "There is a <MASK>red car</MASK>.",
        "rejected": "There is a <MASK>blue truck</MASK>.",
        "images": ["img0.png"],
    },
    {
        # several phrases, multi-token words, punctuation right after closing tags, a phrase at the
        # very start, and a repeated word so that the phrase must map to the right occurrence
        "id": "pair-long",
        "prompt": "Describe the image in detail.",
        "chosen": "<MASK>Two</MASK> dogs and a red car: the <MASK>red car</MASK>, a "
        "<MASK>skateboarder</MASK>! It is <MASK>parked near a tree</MASK>.",
        "rejected": "<MASK>Three</MASK> dogs and a red car: the <MASK>green bus</MASK>, a "
        "<MASK>xylophone player</MASK>! It is <MASK>moving</MASK>.",
        "images": ["img1.png"],
    },
]

CONVERSATIONS = [
    {
        "id": "ref-multi",
        "image": "img0.png",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat shape is shown?"},
            {"from": "gpt", "value": "A red circle on a blue background."},
            {"from": "human", "value": "Where is the shape located?"},
            {"from": "gpt", "value": "It is near the top left corner."},
            {"from": "human", "value": "Is it big?"},
            {"from": "gpt", "value": "No, it is small."},
        ],
    },
    {
        "id": "ref-text",
        "conversations": [
            {"from": "human", "value": "Say hello."},
            {"from": "gpt", "value": "Hello, world!"},
        ],
    },
]


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for i in range(2):
        make_image(i).save(root / f"img{i}.png")
    (root / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in PAIRS))
    (root / "refs.json").write_text(json.dumps(CONVERSATIONS, indent=2))
    return root


@pytest.fixture(scope="module")
def processors(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    cache = {}

    def get(name):
        if name not in cache:
            family, kind = MODELS[name]
            path = build_tiny_vlm(family, root / name, tokenizer_kind=kind)
            cache[name] = AutoProcessor.from_pretrained(path)
        return cache[name]

    return get


@pytest.fixture(scope="module", params=list(MODELS))
def model(request, processors):
    family, kind = MODELS[request.param]
    return family, kind, processors(request.param)


@pytest.fixture(scope="module")
def dataset(data_dir):
    pairs = read_pairs(data_dir / "pairs.jsonl")
    refs = read_conversations(data_dir / "refs.json")
    return PairDataset(pairs, refs, MediaOptions(media_root=str(data_dir)))


# ---------------------------------------------------------------------------------------------
# independent checks


def norm(text: str) -> str:
    """Drop all whitespace (and Metaspace's "▁"): what stays must match exactly."""
    return "".join(text.replace("▁", " ").split())


def decode(tokenizer, ids) -> str:
    return tokenizer.decode([int(i) for i in ids], skip_special_tokens=False, clean_up_tokenization_spaces=False)


def runs(mask: torch.Tensor) -> list[tuple[int, int]]:
    """Maximal runs [start, end) of True positions."""
    out, start = [], None
    values = mask.tolist() + [False]
    for i, v in enumerate(values):
        if v and start is None:
            start = i
        elif not v and start is not None:
            out.append((start, i))
            start = None
    return out


def check_scored_runs(family, kind, tokenizer, ids, mask, responses: list[str]):
    """``mask`` marks exactly one run per response: its tokens and the end-of-turn marker."""
    eot, before, _, _ = FAMILY[family]
    found = runs(mask)
    assert len(found) == len(responses)
    for (start, end), response in zip(found, responses):
        text = decode(tokenizer, ids[start:end])
        assert norm(text) == norm(response + eot), (text, response)
        # the run starts right after the assistant header (whitespace-only tokens aside)
        assert norm(decode(tokenizer, ids[:start])).endswith(norm(before))
        if kind == "bpe":
            # byte-level BPE decodes exactly: only the space the template puts before the answer
            # and the newline after the end-of-turn marker are around it
            assert text.strip() == response + eot, text


def check_phrases(tokenizer, ids, mask, phrase_ids, response: str, spans):
    """Phrase k's tokens are a contiguous, minimal cover of its characters, at the right place."""
    ((r0, _),) = runs(mask)
    assert int(phrase_ids.max()) == len(spans)
    assert not bool((phrase_ids > 0)[~mask].any()), "phrase tokens outside the response"

    def upto(pos: int) -> int:  # whitespace-free length of the response decoded up to token pos
        return len(norm(decode(tokenizer, ids[r0:pos])))

    for k, (s, e) in enumerate(spans, start=1):
        (start, end), = runs(phrase_ids == k)  # exactly one contiguous run
        phrase = response[s:e]
        text = decode(tokenizer, ids[start:end])
        assert norm(phrase) in norm(text), (phrase, text)
        s_n, e_n = len(norm(response[:s])), len(norm(response[:e]))
        # the run covers the phrase ...
        assert upto(start) <= s_n and upto(end) >= e_n, (phrase, text)
        # ... and no token of it lies outside: the first one reaches into the phrase, the last one
        # starts before the phrase ends
        assert upto(start + 1) > s_n and upto(end - 1) < e_n, (phrase, text)


def collate(processor, dataset, indices, **kwargs):
    return PreferenceCollator(processor, **kwargs)([dataset[i] for i in indices])


# ---------------------------------------------------------------------------------------------
# (a), (b), (c): pairs, chosen and rejected rows, phrases


def test_pair_batch_rows_masks_and_phrases(model, dataset):
    family, kind, processor = model
    tokenizer = processor.tokenizer
    batch = collate(processor, dataset, [0, 1])
    part = batch["pair"]
    ids, attention = part["inputs"]["input_ids"], part["inputs"]["attention_mask"]
    mask, phrase_ids = part["response_mask"], part["phrase_ids"]
    assert ids.shape[0] == 4 and mask.shape == ids.shape and phrase_ids.shape == ids.shape
    assert mask.dtype == torch.bool

    pairs = dataset.pairs
    rows = [(pairs[0], "chosen"), (pairs[1], "chosen"), (pairs[0], "rejected"), (pairs[1], "rejected")]
    for row, (pair, side) in enumerate(rows):
        response = getattr(pair, side)
        spans = getattr(pair, f"{side}_spans")
        # padding (right) is never scored
        assert not bool(mask[row][attention[row] == 0].any())
        assert not bool(phrase_ids[row][attention[row] == 0].any())
        check_scored_runs(family, kind, tokenizer, ids[row], mask[row], [response])
        check_phrases(tokenizer, ids[row], mask[row], phrase_ids[row], response, spans)
        # the prompt (with every media token) is the same on both sides of a pair
        _, _, image_token, per_image = FAMILY[family]
        image_id = tokenizer.convert_tokens_to_ids(image_token)
        assert int((ids[row] == image_id).sum()) == per_image
        assert norm(pair.prompt) in norm(decode(tokenizer, ids[row]))
    for c, r in ((0, 2), (1, 3)):
        start_c, start_r = runs(mask[c])[0][0], runs(mask[r])[0][0]
        assert start_c == start_r and torch.equal(ids[c, :start_c], ids[r, :start_r])


def test_phrase_decodes_contain_phrase_text(model, dataset):
    _, _, processor = model
    part = collate(processor, dataset, [1])["pair"]
    ids, phrase_ids = part["inputs"]["input_ids"], part["phrase_ids"]
    pair = dataset.pairs[1]
    expected = [
        (0, ["Two", "red car", "skateboarder", "parked near a tree"]),
        (1, ["Three", "green bus", "xylophone player", "moving"]),
    ]
    for row, texts in expected:
        for k, text in enumerate(texts, start=1):
            decoded = decode(processor.tokenizer, ids[row][phrase_ids[row] == k])
            assert norm(text) in norm(decoded)
    # "red car" appears twice in chosen; only the tagged (second) occurrence is phrase 2
    tokens_phrase2 = int((phrase_ids[0] == 2).sum())
    response = decode(processor.tokenizer, ids[0][part["response_mask"][0]])
    assert norm(response).count("redcar") == 2 and tokens_phrase2 >= 2
    assert pair.num_phrases == 4


@pytest.mark.parametrize(
    "tagged",
    [
        "a <MASK>red car</MASK>.",
        "<MASK>Yes</MASK>",
        "It is <MASK>blue</MASK>, not <MASK>green</MASK>; <MASK>really</MASK>!",
        "The <MASK>dog's</MASK> ball (<MASK>small</MASK>) is \"<MASK>round</MASK>\".",
    ],
)
def test_phrase_mapping_hand_cases(tagged, processors):
    from mmalign.data.records import PairRecord

    rejected = tagged.replace("<MASK>", "<MASK>x ")
    chosen_text, chosen_spans = parse_tags(tagged)
    rejected_text, rejected_spans = parse_tags(rejected)
    pair = PairRecord("hand", "Q?", chosen_text, rejected_text, chosen_spans, rejected_spans, images=[make_image(3)])
    item = {"pair": pair, "images": pair.images, "video": None}
    for name, (family, kind) in MODELS.items():
        processor = processors(name)
        part = PreferenceCollator(processor)([item])["pair"]
        ids, mask, phrase_ids = part["inputs"]["input_ids"], part["response_mask"], part["phrase_ids"]
        for row, (text, spans) in enumerate(((chosen_text, chosen_spans), (rejected_text, rejected_spans))):
            check_scored_runs(family, kind, processor.tokenizer, ids[row], mask[row], [text])
            check_phrases(processor.tokenizer, ids[row], mask[row], phrase_ids[row], text, spans)


def test_reference_multi_turn(model, dataset):
    family, kind, processor = model
    tokenizer = processor.tokenizer
    for ref in dataset.references:  # a multi-turn one with an image, a text-only one
        item = PairDataset(dataset.pairs[:1], [ref], dataset.media)[0]
        assert len(item["reference_images"]) == len(ref.images)
        part = PreferenceCollator(processor)([item])["reference"]
        ids, mask = part["inputs"]["input_ids"][0], part["response_mask"][0]
        assistant = [text for role, text in ref.turns if role == "assistant"]
        user = [text for role, text in ref.turns if role == "user"]
        check_scored_runs(family, kind, tokenizer, ids, mask, assistant)
        scored = norm(decode(tokenizer, ids[mask]))
        unscored = norm(decode(tokenizer, ids[~mask]))
        for text in user:
            question = text.replace("<image>", "")
            assert norm(question) not in scored and norm(question) in unscored
        assert not bool(part["phrase_ids"].any())


def test_reference_draw_is_deterministic(dataset):
    again = PairDataset(dataset.pairs, dataset.references, dataset.media, seed=0)
    assert again.reference_index == dataset.reference_index


# ---------------------------------------------------------------------------------------------
# video (Qwen2-VL), RRPO layout


def test_qwen2_vl_video_pair(tmp_path, processors):
    write_video(tmp_path / "clip.mp4", num_frames=8, size=56)
    record = {
        "question": "<video>\nWhat moves?",
        "answer": "A circle moves right.",
        "pred": "A square moves left.",
        "answer_masked": "A <MASK>circle</MASK> moves <MASK>right</MASK>.",
        "pred_masked": "A <MASK>square</MASK> moves <MASK>left</MASK>.",
        "video": "clip.mp4",
        "src": "test",
        "sample_id": "vid-1",
    }
    (tmp_path / "rrpo.jsonl").write_text(json.dumps(record) + "\n")
    dataset = PairDataset(read_pairs(tmp_path / "rrpo.jsonl"), media=MediaOptions(str(tmp_path), num_frames=4))
    processor = processors("qwen2_vl-bpe")
    part = PreferenceCollator(processor)([dataset[0]])["pair"]
    ids, mask, phrase_ids = part["inputs"]["input_ids"], part["response_mask"], part["phrase_ids"]
    video_id = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    # 4 frames / temporal patch 2 = 2 steps, (56 / 14 / 2)^2 = 4 tokens each
    assert [int((ids[r] == video_id).sum()) for r in range(2)] == [8, 8]
    assert "pixel_values_videos" in part["inputs"]
    pair = dataset.pairs[0]
    for row, (text, spans) in enumerate(((pair.chosen, pair.chosen_spans), (pair.rejected, pair.rejected_spans))):
        check_scored_runs("qwen2_vl", "bpe", processor.tokenizer, ids[row], mask[row], [text])
        check_phrases(processor.tokenizer, ids[row], mask[row], phrase_ids[row], text, spans)


# ---------------------------------------------------------------------------------------------
# (d) max_length: an error naming the record, never truncation


def test_over_long_sample_is_an_error_not_truncated(dataset, processors):
    processor = processors("llava-bpe")
    dataset = PairDataset(dataset.pairs, None, dataset.media)  # the pairs alone (references: next test)
    full = collate(processor, dataset, [0, 1])["pair"]
    lengths = full["inputs"]["attention_mask"].sum(dim=1).tolist()
    short, long = int(lengths[0]), int(lengths[1])  # pair-short, pair-long (chosen rows)
    assert long > short

    exact = collate(processor, dataset, [0, 1], max_length=long)["pair"]
    assert torch.equal(exact["inputs"]["input_ids"], full["inputs"]["input_ids"])
    assert torch.equal(exact["response_mask"], full["response_mask"])

    with pytest.raises(DataError) as info:
        collate(processor, dataset, [0, 1], max_length=long - 1)
    message = str(info.value)
    assert "'pair-long'" in message and "pair-short" not in message
    assert f"{dataset.pairs[1].source}" in message and f"max_length={long - 1}" in message

    # validate_dataset stops on the same record and reports the longest sample otherwise
    assert validate_dataset(dataset, PreferenceCollator(processor, max_length=None)) >= long
    with pytest.raises(DataError, match="pair-long"):
        validate_dataset(dataset, PreferenceCollator(processor, max_length=short + 1))


def test_reference_over_max_length(dataset, processors):
    processor = processors("llava-bpe")
    item = dict(dataset[0])
    item.update(reference=dataset.references[0], reference_images=[make_image(0)], reference_video=None)
    full = PreferenceCollator(processor)([item])
    pair_len = int(full["pair"]["inputs"]["attention_mask"].sum(dim=1).max())
    ref_len = int(full["reference"]["inputs"]["attention_mask"].sum())
    assert ref_len > pair_len
    with pytest.raises(DataError, match="'ref-multi'"):
        PreferenceCollator(processor, max_length=ref_len - 1)([item])


# ---------------------------------------------------------------------------------------------
# (e) media errors through PairDataset.__getitem__


def test_missing_image_is_a_data_error(tmp_path):
    records = [
        {"id": "ok", "prompt": "Q", "chosen": "<MASK>a</MASK>", "rejected": "<MASK>b</MASK>", "images": []},
        {"id": "no-image", "prompt": "Q", "chosen": "<MASK>a</MASK>", "rejected": "<MASK>b</MASK>", "images": ["gone.png"]},
        {"id": "empty-path", "prompt": "Q", "chosen": "<MASK>a</MASK>", "rejected": "<MASK>b</MASK>", "images": [""]},
        {"id": "no-video", "prompt": "Q", "chosen": "<MASK>a</MASK>", "rejected": "<MASK>b</MASK>", "video": "gone.mp4"},
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    dataset = PairDataset(read_pairs(path), media=MediaOptions(media_root=str(tmp_path)))
    assert dataset[0]["images"] == []
    for index, (rid, needle) in enumerate([("no-image", "gone.png"), ("empty-path", "empty"), ("no-video", "gone.mp4")], 1):
        with pytest.raises(DataError) as info:
            dataset[index]
        message = str(info.value)
        assert f"{path}:{index + 1}: record {rid!r}" in message and needle in message, message


def test_missing_reference_image_names_reference(tmp_path, data_dir):
    pairs = read_pairs(data_dir / "pairs.jsonl")
    refs_path = tmp_path / "refs.jsonl"
    refs_path.write_text(json.dumps({"id": "ref-gone", "prompt": "Q", "response": "A", "images": ["nope.jpg"]}) + "\n")
    dataset = PairDataset(pairs, read_conversations(refs_path), MediaOptions(media_root=str(data_dir)))
    with pytest.raises(DataError) as info:
        dataset[0]
    assert f"{refs_path}:1: record 'ref-gone'" in str(info.value) and "nope.jpg" in str(info.value)


# ---------------------------------------------------------------------------------------------
# scored tokens: the response text and the end-of-turn token, nothing of the template around them

END_OF_TURN = {"llava": "</s>", "qwen2_vl": "<|im_end|>", "llava_onevision": "<|im_end|>"}


@pytest.mark.parametrize("family", sorted(END_OF_TURN))
def test_scored_tokens_are_the_response_and_its_end_of_turn_token(family, tiny_model_dir, data_dir):
    processor = AutoProcessor.from_pretrained(tiny_model_dir(family))
    pairs = read_pairs(data_dir / "pairs.jsonl")
    part = PreferenceCollator(processor)([PairDataset(pairs, None, MediaOptions(str(data_dir)))[0]])["pair"]
    tokenizer = processor.tokenizer
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN[family])
    for row, response in enumerate([pairs[0].chosen, pairs[0].rejected]):
        scored = part["inputs"]["input_ids"][row][part["response_mask"][row]].tolist()
        assert scored[-1] == eot  # ends with the end-of-turn token ...
        # ... preceded by exactly the response's own tokens (no role header, no template whitespace)
        assert norm(tokenizer.decode(scored[:-1])) == norm(response)
        # nothing after the end-of-turn token is scored (Qwen's template puts a newline there)
        last = max(i for i, on in enumerate(part["response_mask"][row].tolist()) if on)
        assert part["inputs"]["input_ids"][row][last].item() == eot


def test_template_without_end_of_turn_gets_the_eos_token(tiny_model_dir):
    # llava-hf's LLaVA-1.5 template: no </s>, a space after each turn, system text before USER:
    processor = AutoProcessor.from_pretrained(tiny_model_dir("llava"))
    processor.chat_template = (
        "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}"
        "{% endif %}{% for c in message['content'] if c['type'] == 'image' %}{{ '<image>\\n' }}{% endfor %}"
        "{% for c in message['content'] if c['type'] == 'text' %}{{ c['text'] + ' ' }}{% endfor %}{% endfor %}"
        "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
    )
    from mmalign.data.encoding import render_chat

    system = "A chat between a curious human and an artificial intelligence assistant."
    turns = [("system", system), ("user", "<image>\nQ1?"), ("assistant", "A1."), ("user", "Q2?"), ("assistant", "A2.")]
    text, scored, starts = render_chat(processor, turns, num_images=1)
    # the official LLaVA v1 conversation, character for character
    assert text == f"{system} USER: <image>\nQ1? ASSISTANT: A1.</s>USER: Q2? ASSISTANT: A2.</s>"
    assert [text[s:e] for s, e in scored] == ["A1.", "</s>", "A2.", "</s>"]
    assert [text[s:] .startswith(a) for s, a in zip(starts, ["A1.", "A2."])] == [True, True]


def test_system_prompt_opens_pairs_and_references(tiny_model_dir, dataset):
    processor = AutoProcessor.from_pretrained(tiny_model_dir("qwen2_vl"))
    system = "Answer only what the image shows."
    collator = PreferenceCollator(processor, system_prompt=system)
    chosen, _ = collator.pair_sequences(dataset[0])
    reference = collator.reference_sequence(dataset[0])
    for sequence in (chosen, reference):
        assert sequence.text.startswith(f"<|im_start|>system\n{system}<|im_end|>")
        assert "You are a helpful assistant." not in sequence.text
    plain, _ = PreferenceCollator(processor).pair_sequences(dataset[0])
    assert plain.text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")


def test_pad_to_square_uses_the_mean_colour(tiny_model_dir):
    from PIL import Image

    processor = AutoProcessor.from_pretrained(tiny_model_dir("llava"))  # CLIPImageProcessor: padded here
    colour = tuple(int(x * 255) for x in processor.image_processor.image_mean)  # LLaVA's expand2square fill
    wide = Image.new("RGB", (8, 4), (10, 200, 30))
    collator = PreferenceCollator(processor, pad_to_square=True)
    (square,) = collator._images([wide])
    assert square.size == (8, 8)
    pixels = square.load()
    assert pixels[0, 0] == colour and pixels[7, 7] == colour  # rows 0-1 and 6-7 are padding
    assert pixels[0, 2] == (10, 200, 30) and pixels[7, 5] == (10, 200, 30)


def test_pad_to_square_agrees_with_the_llava_image_processor():
    from PIL import Image
    from transformers import LlavaImageProcessor

    from mmalign.data.media import expand_to_square

    image_processor = LlavaImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    colour = tuple(int(x * 255) for x in image_processor.image_mean)
    tall = Image.new("RGB", (6, 12), (250, 20, 90))
    by_processor = image_processor(tall, do_pad=True, return_tensors="pt")["pixel_values"]
    by_us = image_processor(expand_to_square(tall, colour), do_pad=False, return_tensors="pt")["pixel_values"]
    assert torch.allclose(by_processor, by_us, atol=1e-6)
