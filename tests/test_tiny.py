"""Tests of mmalign.tiny: tiny real VLMs built offline, loaded through the Auto classes."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

from mmalign.tiny import FAMILIES, build_tiny_vlm, make_image, read_video, train_tokenizer, write_video

# Per family: the placeholder the chat template writes for an image / a video, the token the
# processor expands it into, how many of those a 56x56 image / an 8-frame 56x56 video becomes, the
# model and processor classes, and the token an assistant turn ends with.
IMAGE_PLACEHOLDER = {
    "llava": "<image>", "qwen2_vl": "<|image_pad|>", "llava_onevision": "<image>", "qwen2_5_vl": "<|image_pad|>",
    "qwen3_vl": "<|image_pad|>", "gemma3": "<start_of_image>", "smolvlm": "<image>", "internvl": "<IMG_CONTEXT>",
    "llava_next": "<image>", "llava_next_video": "<image>", "mistral3": "[IMG]",
}  # fmt: skip
IMAGE_TOKEN = {**IMAGE_PLACEHOLDER, "gemma3": "<image_soft_token>"}
TOKENS_PER_56PX_IMAGE = {
    "llava": 16, "qwen2_vl": 4, "llava_onevision": 88, "qwen2_5_vl": 4, "qwen3_vl": 4, "gemma3": 4,
    "smolvlm": 5 * 4,  # 2x2 crops + the global view, 4 tokens each
    "internvl": 5 * 4,  # 2x2 tiles + the thumbnail, 4 tokens each
    "llava_next": 16 + 8 * 8 + 8,  # base view + the 2x2 anyres grid of 4x4 features + a newline per row
    "llava_next_video": 16 + 8 * 8 + 8,
    "mistral3": 4 * 4,  # 64 px in 8 px patches, merged 2x2; plus 4 [IMG_BREAK]/[IMG_END]
}  # fmt: skip
VIDEO_PLACEHOLDER = {
    "qwen2_vl": "<|video_pad|>", "llava_onevision": "<video>", "qwen2_5_vl": "<|video_pad|>",
    "qwen3_vl": "<|video_pad|>", "smolvlm": "<video>", "internvl": "<video>", "llava_next_video": "<video>",
}  # fmt: skip
VIDEO_TOKEN = {**VIDEO_PLACEHOLDER, "smolvlm": "<image>", "internvl": "<IMG_CONTEXT>"}
TOKENS_PER_8_FRAMES = {
    "qwen2_vl": 16, "llava_onevision": 33, "qwen2_5_vl": 16,
    "qwen3_vl": 4 * 4,  # 4 temporal patches of 2x2 merged tokens, each after a <t seconds> stamp
    "smolvlm": 8 * 4, "internvl": 8 * 4, "llava_next_video": 8 * 4,
}  # fmt: skip
EXPECTED_CLASSES = {
    "llava": ("LlavaForConditionalGeneration", "LlavaProcessor"),
    "qwen2_vl": ("Qwen2VLForConditionalGeneration", "Qwen2VLProcessor"),
    "llava_onevision": ("LlavaOnevisionForConditionalGeneration", "LlavaOnevisionProcessor"),
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor"),
    "qwen3_vl": ("Qwen3VLForConditionalGeneration", "Qwen3VLProcessor"),
    "gemma3": ("Gemma3ForConditionalGeneration", "Gemma3Processor"),
    "smolvlm": ("SmolVLMForConditionalGeneration", "SmolVLMProcessor"),
    "internvl": ("InternVLForConditionalGeneration", "InternVLProcessor"),
    "llava_next": ("LlavaNextForConditionalGeneration", "LlavaNextProcessor"),
    "llava_next_video": ("LlavaNextVideoForConditionalGeneration", "LlavaNextVideoProcessor"),
    "mistral3": ("Mistral3ForConditionalGeneration", "PixtralProcessor"),
}
END_OF_TURN = {
    "llava": "</s>", "qwen2_vl": "<|im_end|>", "llava_onevision": "<|im_end|>", "qwen2_5_vl": "<|im_end|>",
    "qwen3_vl": "<|im_end|>", "gemma3": "<end_of_turn>", "smolvlm": "<end_of_utterance>", "internvl": "<|im_end|>",
    "llava_next": "</s>", "llava_next_video": "</s>", "mistral3": "</s>",
}  # fmt: skip
VIDEO_FAMILIES = tuple(VIDEO_PLACEHOLDER)

SENTENCE = "Hello, world! The cat's mat is red; a dog (big) sits on 3 chairs... Really?"


def test_every_family_is_described_here():
    for table in (IMAGE_PLACEHOLDER, TOKENS_PER_56PX_IMAGE, EXPECTED_CLASSES, END_OF_TURN):
        assert set(table) == set(FAMILIES)


@pytest.fixture(scope="module")
def video_frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    paths = [write_video(root / f"v{i}.mp4", num_frames=8, size=56, fps=4, seed=i) for i in range(2)]
    return [read_video(p) for p in paths]


def _conversation(question: str, answer: str, media: str = "image") -> list[dict]:
    return [
        {"role": "user", "content": [{"type": media}, {"type": "text", "text": question}]},
        {"role": "assistant", "content": [{"type": "text", "text": answer}]},
    ]


# ---------------------------------------------------------------------------------------------
# tokenizers
# ---------------------------------------------------------------------------------------------


def _check_offsets(tok, text: str, wordpiece: bool) -> None:
    """Each token's offsets reproduce its surface (modulo the leading-space marker convention:
    byte-level offsets are trimmed of the space, Metaspace ones keep it), offsets increase, and
    together they cover every non-space character."""
    enc = tok(text, return_offsets_mapping=True)
    tokens = tok.convert_ids_to_tokens(enc["input_ids"])
    specials = set(tok.all_special_tokens)
    assert tok.unk_token is None or tok.unk_token not in tokens
    covered = [False] * len(text)
    previous_end = 0
    for token, (start, end) in zip(tokens, enc["offset_mapping"]):
        if token in specials:
            assert start == end  # the added bos
            continue
        if wordpiece:
            surface = token[2:] if token.startswith("##") else token
        else:
            surface = tok.convert_tokens_to_string([token])
        assert text[start:end].lstrip() == surface.lstrip(), (token, text[start:end])
        assert start >= previous_end, "offsets go backwards or overlap"
        previous_end = end
        for i in range(start, end):
            covered[i] = True
    missing = [c for c, ok in zip(text, covered) if not ok and not c.isspace()]
    assert not missing, f"characters not covered by any token: {missing}"
    if not wordpiece:  # BERT-style pre-tokenization drops the whitespace
        assert tok.decode(enc["input_ids"], skip_special_tokens=True) == text


@pytest.mark.parametrize("kind", ["bpe", "wordpiece", "metaspace"])
def test_tokenizer_offsets_cover_words(kind):
    tok = train_tokenizer(["A tiny corpus about cats and dogs."], kind=kind, vocab_size=512)
    assert tok.eos_token is not None and tok.pad_token is not None
    assert tok.pad_token_id != tok.eos_token_id
    _check_offsets(tok, SENTENCE, wordpiece=kind == "wordpiece")


def test_tokenizer_is_deterministic_and_keeps_special_tokens_whole():
    for kind in ("bpe", "wordpiece", "metaspace"):
        a = train_tokenizer(["héllo wörld"], kind=kind, extra_special_tokens=["<image>"])
        b = train_tokenizer(["héllo wörld"], kind=kind, extra_special_tokens=["<image>"])
        assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str(), kind
        ids = a("look:<image>\nhere", add_special_tokens=False)["input_ids"]
        assert ids.count(a.convert_tokens_to_ids("<image>")) == 1, kind
    with pytest.raises(ValueError):
        train_tokenizer([], kind="nonsense")


# ---------------------------------------------------------------------------------------------
# families
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_family_loads_and_runs_on_images(family, tiny_model):
    model, processor = tiny_model(family)
    assert (type(model).__name__, type(processor).__name__) == EXPECTED_CLASSES[family]
    tok = processor.tokenizer
    vocab = model.config.text_config.vocab_size
    assert vocab == len(tok)
    stop = model.generation_config.eos_token_id
    stop = stop if isinstance(stop, list) else [stop]
    assert stop[0] == tok.eos_token_id == model.config.text_config.eos_token_id
    assert tok.convert_tokens_to_ids(END_OF_TURN[family]) in stop  # generation stops where turns end
    assert model.generation_config.pad_token_id == tok.pad_token_id == model.config.text_config.pad_token_id
    assert (model.config.pad_token_id, model.config.eos_token_id) == (tok.pad_token_id, tok.eos_token_id)
    assert tok.pad_token_id != tok.eos_token_id
    _check_offsets(tok, SENTENCE, wordpiece=False)  # the reloaded tokenizer keeps its offsets

    conversations = [
        _conversation("What is in the image?", "A red circle on a blue background."),
        _conversation("Describe it briefly.", "There is a small green square."),
    ]
    texts = [processor.apply_chat_template(c, tokenize=False) for c in conversations]
    for text in texts:
        assert text.count(IMAGE_PLACEHOLDER[family]) == 1
    images = [[make_image(0)], [make_image(1)]]
    inputs = processor(text=texts, images=images, return_tensors="pt", padding=True)
    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN[family])
    assert (inputs["input_ids"] == image_id).sum(dim=1).tolist() == [TOKENS_PER_56PX_IMAGE[family]] * 2

    assert sum(p.numel() for p in model.parameters()) < 1_000_000  # tiny: a forward takes milliseconds
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (2, inputs["input_ids"].shape[1], vocab)
    assert torch.isfinite(logits).all()

    prompt = processor.apply_chat_template(conversations[0][:1], tokenize=False, add_generation_prompt=True)
    gen_inputs = processor(text=[prompt], images=[make_image(2)], return_tensors="pt")
    out = model.generate(**gen_inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] <= gen_inputs["input_ids"].shape[1] + 3


@pytest.mark.parametrize("family", VIDEO_FAMILIES)
def test_family_runs_on_videos(family, tiny_model, video_frames):
    model, processor = tiny_model(family)
    assert video_frames[0].shape == (8, 56, 56, 3) and video_frames[0].dtype == np.uint8
    conversations = [
        _conversation("What happens in the video?", "A ball moves to the right.", media="video"),
        _conversation("Describe the clip.", "A square slides across.", media="video"),
    ]
    texts = [processor.apply_chat_template(c, tokenize=False) for c in conversations]
    for text in texts:
        assert text.count(VIDEO_PLACEHOLDER[family]) == 1
    metadata = [{"fps": 4, "total_num_frames": 8, "frames_indices": list(range(8))}] * 2  # Qwen3-VL and SmolVLM stamp times
    inputs = processor(
        text=texts, videos=video_frames, return_tensors="pt", padding=True, do_sample_frames=False, video_metadata=metadata
    )
    video_id = processor.tokenizer.convert_tokens_to_ids(VIDEO_TOKEN[family])
    assert (inputs["input_ids"] == video_id).sum(dim=1).tolist() == [TOKENS_PER_8_FRAMES[family]] * 2
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (2, inputs["input_ids"].shape[1], model.config.text_config.vocab_size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_chat_template_multiturn_prefix_and_assistant_mask(family, tiny_model):
    _, processor = tiny_model(family)
    conversation = [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "Compare them."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "The left one is red."}]},
        {"role": "user", "content": "And the right one?"},
        {"role": "assistant", "content": "Blue."},
    ]
    full = processor.apply_chat_template(conversation, tokenize=False)
    prompt = processor.apply_chat_template(conversation[:-1], tokenize=False, add_generation_prompt=True)
    assert full.startswith(prompt)
    assert full[len(prompt) :].strip().startswith("Blue.")
    assert full.count(IMAGE_PLACEHOLDER[family]) == 2
    assert "Answer briefly." in full and "Compare them." in full

    # AutoTokenizer gets the same template.
    tok = AutoTokenizer.from_pretrained(processor.tokenizer.name_or_path)
    assert tok.apply_chat_template(conversation, tokenize=False) == full

    single = [
        {"role": "user", "content": [{"type": "image", "image": make_image(3)}, {"type": "text", "text": "What?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
    ]
    out = processor.apply_chat_template(
        single, tokenize=True, return_dict=True, return_assistant_tokens_mask=True, return_tensors="pt"
    )
    ids = out["input_ids"][0][out["assistant_masks"][0].bool()]
    assert processor.tokenizer.decode(ids).strip() == "A cat." + END_OF_TURN[family]


@pytest.mark.parametrize(("family", "kind"), [("llava", "wordpiece"), ("llava_onevision", "metaspace")])
def test_other_tokenizer_kinds_in_a_family(family, kind, tmp_path):
    path = build_tiny_vlm(family, tmp_path / f"{family}-{kind}", tokenizer_kind=kind)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    text = processor.apply_chat_template(_conversation("Is it red?", "Yes, it is."), tokenize=False)
    inputs = processor(text=[text], images=[make_image(5)], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[-1] == len(processor.tokenizer) and torch.isfinite(logits).all()


def test_build_is_deterministic_and_cached(tmp_path):
    a = build_tiny_vlm("llava", tmp_path / "a", corpus=["a red ball"], seed=3)
    b = build_tiny_vlm("llava", tmp_path / "b", corpus=["a red ball"], seed=3)
    c = build_tiny_vlm("llava", tmp_path / "c", corpus=["a red ball"], seed=4)
    wa, wb, wc = (load_file(p / "model.safetensors") for p in (a, b, c))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()

    # A complete build is reused as is; other settings rebuild; foreign directories are refused.
    mtime = (a / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_vlm("llava", a, corpus=["a red ball"], seed=3) == a
    assert (a / "model.safetensors").stat().st_mtime_ns == mtime
    build_tiny_vlm("llava", a, corpus=["a red ball"], seed=5)
    assert json.loads((a / "mmalign_tiny.json").read_text())["seed"] == 5
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        build_tiny_vlm("llava", foreign)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    with pytest.raises(ValueError):
        build_tiny_vlm("no_such_family", tmp_path / "x")


def test_media_helpers(tmp_path):
    img = make_image(7)
    assert img.size == (56, 56) and img.mode == "RGB"
    assert np.array_equal(np.asarray(img), np.asarray(make_image(7)))
    assert not np.array_equal(np.asarray(img), np.asarray(make_image(8)))
    assert make_image(7, size=32).size == (32, 32)

    path = write_video(tmp_path / "clip.mp4", num_frames=6, size=40, fps=3, seed=1)
    frames = read_video(path)
    assert frames.shape == (6, 40, 40, 3) and frames.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[-1])  # the shape moves
    assert read_video(path, num_frames=3).shape == (3, 40, 40, 3)
    h264 = read_video(write_video(tmp_path / "clip264.mp4", num_frames=4, codec="libx264"))
    assert h264.shape == (4, 56, 56, 3)
