"""One test matrix for every tiny model family: phrase mapping, scored tokens, scoring, training
steps of each method, video and the evaluator's generation path.

Each expectation is computed here without the encoder: the scored tokens of a response are the
tokens after the rendered generation prompt, up to and including the first end-of-turn token
(the family's, written out below); a token's character span is found by decoding the tokens one
by one, and it belongs to a phrase when that span overlaps the phrase's characters.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from test_tiny import END_OF_TURN, VIDEO_FAMILIES
from test_trainers import make_trainer

from mmalign.data.dataset import MediaOptions, PairDataset, PreferenceCollator
from mmalign.data.media import load_video
from mmalign.data.readers import pair_from_dict
from mmalign.data.tags import parse_tags
from mmalign.scoring import score_pairs
from mmalign.tiny import FAMILIES, make_image, write_video

METHODS = [("dpa", {}), ("rrpo", {"alpha": 0.01, "beta": 0.1}), ("dpo", {}), ("tdpo", {"variant": "tdpo2"})]

RECORD = {
    "id": "r0",
    "prompt": "Describe the image.",
    "chosen": "There is a large <MASK>red circle</MASK> in the picture, and it is <MASK>small</MASK>.",
    "rejected": "There is a large <MASK>blue square</MASK> in the picture, and it is <MASK>big</MASK>.",
}


@pytest.fixture(scope="session")
def video_file(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("family-video") / "clip.mp4", num_frames=8, size=56, fps=4, seed=3)


def _media(media_type, video_file):
    if media_type == "image":
        return {"images": [make_image(4)]}, {"images": [make_image(4)]}
    clip = load_video(video_file, num_frames=8)
    return {"video": str(video_file)}, {"videos": [clip.frames], "do_sample_frames": False, "video_metadata": [clip.metadata()]}


def _expected(processor, family, prompt, response, media_type, processor_media):
    """Inputs of ``prompt`` + ``response`` alone, the scored positions, and each scored token's phrase."""
    tokenizer = processor.tokenizer
    plain, spans = parse_tags(response)
    messages = [
        {"role": "user", "content": [{"type": media_type}, {"type": "text", "text": prompt}]},
        {"role": "assistant", "content": [{"type": "text", "text": plain}]},
    ]
    full = processor.apply_chat_template(messages, tokenize=False)
    gen = processor.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    bos = tokenizer.bos_token
    add_special = not (bos and full.startswith(bos))  # templates that write <bos> themselves

    def process(text):
        return processor(text=[text], return_tensors="pt", add_special_tokens=add_special, **processor_media)

    inputs = process(full)
    ids = inputs["input_ids"][0].tolist()
    first = process(gen)["input_ids"].shape[1]
    end_of_turn = tokenizer.convert_tokens_to_ids(END_OF_TURN[family])
    last = ids.index(end_of_turn, first)
    scored = list(range(first, last + 1))
    # Character spans of the response tokens, decoding them one at a time.
    pieces = [tokenizer.decode([ids[p]]) for p in scored[:-1]]
    assert "".join(pieces).strip() == plain.strip()
    offset = len("".join(pieces)) - len("".join(pieces).lstrip())  # a leading space of the first token
    phrase_of, position = [], -offset
    for piece in pieces:
        start, end = position, position + len(piece)
        position = end
        start += len(piece) - len(piece.lstrip())  # the space a piece carries is not the word
        phrase_of.append(next((k + 1 for k, (s, e) in enumerate(spans) if start < e and end > s), 0))
    phrase_of.append(0)  # the end-of-turn token
    return inputs, scored, phrase_of


@pytest.mark.parametrize("family", FAMILIES)
def test_encoding_scores_the_response_and_its_end_of_turn_and_marks_phrases(family, tiny_model, video_file):
    _, processor = tiny_model(family)
    tokenizer = processor.tokenizer
    record_media, processor_media = _media("image", video_file)
    pair = pair_from_dict({**RECORD, **record_media}, source="test", index=0)
    batch = PreferenceCollator(processor)([PairDataset([pair])[0]])["pair"]
    ids, mask, phrase_ids = batch["inputs"]["input_ids"], batch["response_mask"], batch["phrase_ids"]
    for row, side in enumerate(("chosen", "rejected")):
        inputs, scored, phrase_of = _expected(processor, family, RECORD["prompt"], RECORD[side], "image", processor_media)
        got = mask[row].nonzero()[:, 0].tolist()
        assert got == list(range(got[0], got[-1] + 1))
        # exactly the response's tokens and the end-of-turn token: no role header, no template whitespace
        assert ids[row, got].tolist() == inputs["input_ids"][0, scored].tolist(), tokenizer.decode(ids[row, got])
        assert tokenizer.convert_ids_to_tokens(ids[row, got[-1]].item()) == END_OF_TURN[family]
        assert phrase_ids[row, got].tolist() == phrase_of
        assert (phrase_ids[row][~mask[row]] == 0).all()
        _, spans = parse_tags(RECORD[side])
        plain = parse_tags(RECORD[side])[0]
        for k, (s, e) in enumerate(spans):
            assert tokenizer.decode(ids[row, got][phrase_ids[row, got] == k + 1]).strip() == plain[s:e]


@pytest.mark.parametrize(
    "family,media_type", [(f, "image") for f in FAMILIES] + [(f, "video") for f in VIDEO_FAMILIES]
)
def test_score_pairs_equals_a_forward_of_each_response_alone(family, media_type, tiny_model, video_file):
    model, processor = tiny_model(family)
    record_media, processor_media = _media(media_type, video_file)
    second = {"id": "r1", "prompt": "What color is it?", "chosen": "It is <MASK>green</MASK>.", "rejected": "It is <MASK>yellow</MASK>."}
    records = [{**RECORD, **record_media}, {**second, **record_media}]
    results = score_pairs(model, processor, records, batch_size=2, num_frames=8)
    for record, result in zip(records, results):
        for side in ("chosen", "rejected"):
            inputs, scored, phrase_of = _expected(processor, family, record["prompt"], record[side], media_type, processor_media)
            with torch.no_grad():
                logits = model(**inputs).logits[0].double()
            ids = inputs["input_ids"][0]
            token_logps = torch.log_softmax(logits[:-1], -1).gather(-1, ids[1:, None])[:, 0]
            per_token = [float(token_logps[p - 1]) for p in scored]
            phrases = [sum(lp for lp, k in zip(per_token, phrase_of) if k == i + 1) for i in range(max(phrase_of))]
            assert result[f"{side}_logp"] == pytest.approx(sum(per_token), abs=1e-4)
            assert result[f"{side}_phrase_logps"] == pytest.approx(phrases, abs=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method,overrides", METHODS, ids=[m for m, _ in METHODS])
def test_one_training_step_changes_only_lora_weights(family, method, overrides, tiny_model_dir, demo_data, tmp_path):
    trainer, batch = make_trainer(tiny_model_dir(family), demo_data, tmp_path, method, max_length=512, **overrides)
    model = trainer.model
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = trainer.compute_loss(model, batch)
    assert math.isfinite(loss.item())
    loss.backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed), sorted(changed)[:5]
    assert all(".language_model." in n or ".text_model." in n for n in changed)  # never the vision side
    assert any("lora_B" in n for n in changed)


@pytest.mark.parametrize("family", VIDEO_FAMILIES)
def test_a_training_step_on_video_pairs(family, tiny_model_dir, demo_data, tmp_path, video_file):
    trainer, _ = make_trainer(tiny_model_dir(family), demo_data, tmp_path, "rrpo", max_length=1024)
    pairs = [pair_from_dict({**RECORD, "id": f"v{i}", "video": str(video_file)}, source="test", index=i) for i in range(2)]
    batch = trainer.data_collator([PairDataset(pairs, media=MediaOptions(num_frames=8))[i] for i in range(2)])
    model = trainer.model
    model.train()
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    grads = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert math.isfinite(loss.item()) and grads and all("lora_" in n for n in grads)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_evaluator_answers_a_prompt(family, tiny_model, tmp_path, video_file):
    from mmalign.eval.benchmarks.base import Item
    from mmalign.eval.generation import Sampling, TransformersBackend, render_prompt

    model, processor = tiny_model(family)
    make_image(5).save(tmp_path / "q.png")
    items = [Item(id="q", prompt="What is in the image?", images=[str(tmp_path / "q.png")])]
    media = [("image", {"images": [make_image(5)]})]
    if family in VIDEO_FAMILIES:
        items.append(Item(id="v", prompt="What happens?", video=str(video_file)))
        media.append(("video", _media("video", video_file)[1]))
    backend = TransformersBackend(model, processor, num_frames=8)
    # one call per item: a benchmark is all images or all videos (SmolVLM cannot mix them in a batch)
    answers = [answer for item in items for answer in backend.generate([item], Sampling(max_new_tokens=4))]
    assert len(answers) == len(items)
    for item, answer, (media_type, processor_media) in zip(items, answers, media):
        # the same greedy decode, by hand
        text = render_prompt(processor, item.prompt, int(media_type == "image"), media_type == "video")
        bos = processor.tokenizer.bos_token
        inputs = processor(text=[text], return_tensors="pt", add_special_tokens=not (bos and text.startswith(bos)), **processor_media)
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=processor.tokenizer.pad_token_id)
        expected = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        assert answer == expected
    # a batch of images (left-padded, one image list per prompt) answers as one by one
    make_image(6).save(tmp_path / "r.png")
    pair = [items[0], Item(id="r", prompt="Is there a large red circle here?", images=[str(tmp_path / "r.png")])]
    alone = [backend.generate([item], Sampling(max_new_tokens=4))[0] for item in pair]
    assert backend.generate(pair, Sampling(max_new_tokens=4)) == alone


@pytest.mark.parametrize("recipe,media", [("dpa_qwen2_5_vl7b", "image"), ("rrpo_qwen2_5_vl7b", "video")])
def test_qwen2_5_vl_recipes_train_the_tiny_family(recipe, media, tiny_model_dir, demo_data, video_file, tmp_path):
    from mmalign.config import load_config
    from mmalign.train import main

    setup = load_config([f"recipe={recipe}", "bf16=false"])
    assert setup.model.model == "Qwen/Qwen2.5-VL-7B-Instruct" and setup.run.method == recipe.split("_")[0]
    records = [{**RECORD, "id": f"p{i}", **({"images": ["images/pair_000.png"]} if media == "image" else {"video": str(video_file)})}
               for i in range(2)]  # fmt: skip
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    overrides = [
        f"model={tiny_model_dir('qwen2_5_vl')}", f"train_file={tmp_path / 'pairs.jsonl'}", f"media_root={demo_data}",
        f"output_dir={tmp_path / 'out'}", "bf16=false", "use_cpu=true", "max_steps=1", "per_device_train_batch_size=2",
        "global_batch_size=2", "lora_r=8", "lora_alpha=16", "num_frames=8", "save_strategy=no",
        "dataloader_num_workers=0", "logging_steps=1", "disable_tqdm=true",
    ]  # fmt: skip
    if recipe.startswith("dpa"):
        overrides.append(f"ref_file={demo_data / 'refs.jsonl'}")
    assert main([f"recipe={recipe}", *overrides]) == 0
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


# Whether a batch can be forwarded as one packed row (padding_free), as the README's model table says.
PACKING = {
    "llava": True, "qwen2_vl": False, "llava_onevision": True, "qwen2_5_vl": False, "qwen3_vl": False,
    "gemma3": False, "smolvlm": True, "internvl": True, "llava_next": True, "llava_next_video": True, "mistral3": True,
}  # fmt: skip


@pytest.mark.parametrize("family", FAMILIES)
def test_packed_rows_score_as_padded_ones_where_packing_is_possible(family, tiny_model):
    from mmalign.scoring import score_batch
    from mmalign.trainers.base import packed_score_batch, packing_unsupported

    model, processor = tiny_model(family)
    pairs = [pair_from_dict({**RECORD, "id": str(i), "images": [make_image(i)]}, source="test", index=i) for i in range(2)]
    dataset = PairDataset(pairs)
    encoded = PreferenceCollator(processor)([dataset[0], dataset[1]])["pair"]
    shape = encoded["inputs"]["input_ids"].shape
    per_token = [k for k, v in encoded["inputs"].items() if torch.is_tensor(v) and v.shape[:2] == shape and k not in ("input_ids", "attention_mask")]  # fmt: skip
    assert (packing_unsupported(model) is None) == PACKING[family]
    assert not per_token or not PACKING[family], per_token  # the only per-token inputs are those of unpackable models
    if PACKING[family]:
        with torch.no_grad():
            padded, packed = score_batch(model, encoded), packed_score_batch(model, encoded)
        torch.testing.assert_close(packed.token_logps, padded.token_logps, atol=1e-5, rtol=0)
