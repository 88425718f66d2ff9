"""score_pairs against an independent forward pass, on three model families (images and video)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmalign.data.media import load_video, write_video
from mmalign.scoring import score_pairs
from mmalign.tiny import make_image

RECORDS = [
    {
        "prompt": "Describe the image.",
        "chosen": "There is a large <MASK>red circle</MASK> in the picture.",
        "rejected": "There is a large <MASK>blue square</MASK> in the picture.",
    },
    {
        "prompt": "What color is the shape?",
        "chosen": "It is <MASK>green</MASK>, and <MASK>small</MASK>.",
        "rejected": "It is <MASK>yellow</MASK>, and <MASK>large</MASK>.",
    },
]


def _messages(prompt, response, media_type):
    return [
        {"role": "user", "content": [{"type": media_type}, {"type": "text", "text": prompt}]},
        {"role": "assistant", "content": [{"type": "text", "text": response}]},
    ]


#: the token each tiny family's template closes a response with (what the model generates to stop)
END_OF_TURN = {"llava": "</s>", "qwen2_vl": "<|im_end|>", "llava_onevision": "<|im_end|>"}


def _independent_logps(model, processor, prompt, plain, spans, media, media_type, end_of_turn):
    """Chain rule on prefixes: tokens of the text up to a point are the first tokens of the whole.

    The response log-prob sums the tokens after the generation prompt up to and including the
    end-of-turn token (not the template's newline after it); phrase k sums the tokens between the
    prefix ending just before the phrase and the prefix ending with it.
    """
    full = processor.apply_chat_template(_messages(prompt, plain, media_type), tokenize=False)
    gen = processor.apply_chat_template(_messages(prompt, plain, media_type)[:1], tokenize=False, add_generation_prompt=True)
    start = full.index(plain, len(gen))
    response_end = start + len(plain)
    assert full[response_end:].startswith(end_of_turn)
    media_kw = {"images": [media]} if media_type == "image" else {"videos": [media]}

    def count(text):
        return processor(text=[text], return_tensors="pt", **media_kw)["input_ids"].shape[1]

    inputs = processor(text=[full], return_tensors="pt", **media_kw)
    ids = inputs["input_ids"][0]
    with torch.no_grad():
        logits = model(**inputs).logits[0].double()
    logp = torch.log_softmax(logits[:-1], -1).gather(-1, ids[1:, None])[:, 0]  # logp[t-1] = log π(token t)

    def span_sum(first, last):
        return float(logp[first - 1 : last - 1].sum())

    total = span_sum(count(gen), count(full[: response_end + len(end_of_turn)]))
    phrases = [span_sum(count(full[: start + s].rstrip()), count(full[: start + e])) for s, e in spans]
    return total, phrases


@pytest.mark.parametrize("family,media_type", [("llava", "image"), ("qwen2_vl", "image"), ("llava_onevision", "video")])
def test_score_pairs_matches_an_independent_forward(tiny_model_dir, tmp_path, family, media_type):
    from mmalign.data.tags import parse_tags

    path = tiny_model_dir(family)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    records = []
    for i, record in enumerate(RECORDS):
        if media_type == "image":
            records.append({**record, "images": [make_image(i)]})
        else:
            frames = torch.randint(0, 255, (8, 56, 56, 3), generator=torch.Generator().manual_seed(i), dtype=torch.uint8)
            video = write_video(tmp_path / f"v{i}.mp4", frames.numpy())
            records.append({**record, "video": str(video)})
    results = score_pairs(model, processor, records, batch_size=2, num_frames=8)
    assert len(results) == len(records)
    for record, result in zip(records, results):
        if media_type == "image":
            media = record["images"][0]
        else:
            media = load_video(record["video"], num_frames=8).frames
        for side in ("chosen", "rejected"):
            plain, spans = parse_tags(record[side])
            total, phrases = _independent_logps(
                model, processor, record["prompt"], plain, spans, media, media_type, END_OF_TURN[family]
            )
            assert result[f"{side}_logp"] == pytest.approx(total, abs=1e-4)
            assert result[f"{side}_phrase_logps"] == pytest.approx(phrases, abs=1e-4)
            assert len(phrases) == len(spans) and all(p < 0 for p in phrases)
