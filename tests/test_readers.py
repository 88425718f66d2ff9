"""Tests of mmalign.data.readers: the four pair formats (auto-detected), LLaVA reference samples,
and one-line DataErrors that name file:line and the record id."""

from __future__ import annotations

import json

import pytest

from mmalign.data.readers import (
    conversation_from_dict,
    detect_pair_format,
    pair_from_dict,
    read_conversations,
    read_pairs,
    split_placeholders,
    strip_placeholders,
)
from mmalign.errors import DataError

# ---------------------------------------------------------------------------------------------
# fixtures in each format's real field layout


def dpa_record(rid="dpa-1", tag="closed", **over):
    """Official HALVA / DPA layout (a JSON array in the released files)."""
    record = {
        "id": rid,
        "image": "coco/train2014/COCO_train2014_000000000009.jpg",
        "question": "<image>\nDescribe the image in detail.",
        "correct_answer": "The image shows a red car parked next to two people.",
        "correct_answer_masked": "The image shows a <MASK>red car</MASK> parked next to <MASK>two people</MASK>.",
        "hallucinated_answer": "The image shows a blue bus parked next to a dog.",
        "hallucinated_answer_masked": "The image shows a <MASK>blue bus</MASK> parked next to <MASK>a dog</MASK>.",
        "tag": tag,
    }
    record.update(over)
    return record


def dpa_qa_record(rid="dpa-qa-1"):
    return {
        "id": rid,
        "image": "vqa/000001.jpg",
        "question": "<image>\nIs there a cat in the image? Answer yes or no.",
        "correct_answer": "Yes",
        "correct_answer_masked": "<MASK>Yes</MASK>",
        "hallucinated_answer": "No",
        "hallucinated_answer_masked": "<MASK>No</MASK>",
        "tag": "qa",
        "raw_answer": "yes",
    }


def rrpo_record(sample_id=17, **over):
    """Official RRPO self-alignment layout."""
    record = {
        "question": "<video>\nWhat does the person do after opening the door?",
        "answer": "The person picks up a red box and walks to the left.",
        "pred": "The person sits down and walks to the right.",
        "answer_masked": "The person <MASK>picks up a red box</MASK> and walks to the <MASK>left</MASK>.",
        "pred_masked": "The person <MASK>sits down</MASK> and walks to the <MASK>right</MASK>.",
        "video": "nextqa/videos/1234.mp4",
        "src": "nextqa",
        "sample_id": sample_id,
    }
    record.update(over)
    return record


def canonical_record(rid="can-1", **over):
    record = {
        "id": rid,
        "prompt": "What is in the picture?",
        "chosen": "A <MASK>cat</MASK> sleeps on a <MASK>green sofa</MASK>.",
        "rejected": "A <MASK>dog</MASK> sleeps on a <MASK>brown bed</MASK>.",
        "images": ["pics/1.png"],
        "kind": "open",
        "source": "unit-test",
    }
    record.update(over)
    return record


def trl_record(**over):
    """TRL's conversational preference layout (no id, message lists, an images column)."""
    record = {
        "prompt": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the car?"}]},
        ],
        "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "The car is red and small."}]}],
        "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "The car is dark blue and small."}]}],
        "images": ["cars/7.jpg"],
    }
    record.update(over)
    return record


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_json_array(path, records):
    path.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    return path


def brace_line(path, marker: str) -> int:
    """Independently: the line of the '{' that opens the record holding ``marker`` (no nested
    objects before ``marker`` in these fixtures)."""
    text = path.read_text(encoding="utf-8")
    return text.count("\n", 0, text.rfind("{", 0, text.index(marker))) + 1


def phrases(text, spans):
    return [text[s:e] for s, e in spans]


# ---------------------------------------------------------------------------------------------
# formats


DPA1, DPAQA, CONV = '"dpa-1"', '"dpa-qa-1"', '"000000033471"'


def test_official_dpa_array(tmp_path):
    path = write_json_array(tmp_path / "halva.json", [dpa_record(), dpa_qa_record()])
    first, qa = read_pairs(path, format="auto")
    assert first.id == "dpa-1"
    assert first.prompt == "Describe the image in detail."
    assert first.chosen == "The image shows a red car parked next to two people."
    assert first.rejected == "The image shows a blue bus parked next to a dog."
    assert phrases(first.chosen, first.chosen_spans) == ["red car", "two people"]
    assert phrases(first.rejected, first.rejected_spans) == ["blue bus", "a dog"]
    assert first.images == ["coco/train2014/COCO_train2014_000000000009.jpg"] and first.video is None
    assert first.kind == "closed" and first.num_phrases == 2
    assert first.source == f"{path}:{brace_line(path, DPA1)}"
    assert qa.prompt == "Is there a cat in the image? Answer yes or no."
    assert (qa.chosen, qa.rejected) == ("Yes", "No")
    assert qa.chosen_spans == [(0, 3)] and qa.rejected_spans == [(0, 2)]
    assert qa.kind == "qa"
    assert qa.source == f"{path}:{brace_line(path, DPAQA)}"


def test_official_rrpo_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "rrpo.jsonl", [rrpo_record(17), rrpo_record("abc", question="Why?")])
    first, second = read_pairs(path)
    assert first.id == "17" and second.id == "abc"
    assert first.prompt == "What does the person do after opening the door?"
    assert second.prompt == "Why?"
    assert first.chosen == "The person picks up a red box and walks to the left."
    assert first.rejected == "The person sits down and walks to the right."
    assert phrases(first.chosen, first.chosen_spans) == ["picks up a red box", "left"]
    assert phrases(first.rejected, first.rejected_spans) == ["sits down", "right"]
    assert first.video == "nextqa/videos/1234.mp4" and first.images == []
    assert first.kind == "selfalign"
    assert (first.source, second.source) == (f"{path}:1", f"{path}:2")


def test_canonical_jsonl(tmp_path):
    video = canonical_record("can-2", images=None, video="clips/a.mp4", prompt="<video>\nWhat happens?")
    path = write_jsonl(tmp_path / "pairs.jsonl", [canonical_record(), video])
    first, second = read_pairs(path)
    assert first.prompt == "What is in the picture?"
    assert phrases(first.chosen, first.chosen_spans) == ["cat", "green sofa"]
    assert phrases(first.rejected, first.rejected_spans) == ["dog", "brown bed"]
    assert first.images == ["pics/1.png"] and first.kind == "open"
    assert second.prompt == "What happens?" and second.video == "clips/a.mp4" and second.images == []


def test_preference_trl_conversational(tmp_path):
    path = write_jsonl(tmp_path / "trl.jsonl", [trl_record(), trl_record()])
    first, second = read_pairs(path)
    assert (first.id, second.id) == ("0", "1")  # no id field: the record's index
    assert first.prompt == "What colour is the car?"  # system message and image part dropped
    assert first.chosen == "The car is red and small."
    assert first.rejected == "The car is dark blue and small."
    assert phrases(first.chosen, first.chosen_spans) == ["red"]
    assert phrases(first.rejected, first.rejected_spans) == ["dark blue"]
    assert first.images == ["cars/7.jpg"]


def test_preference_plain_strings(tmp_path):
    record = {
        "id": "p1",
        "prompt": "<image>\nDescribe.",
        "chosen": " A man rides a horse on the beach.",
        "rejected": " A woman rides a horse on the beach with a dog. ",
        "images": "beach.jpg",
    }
    (pair,) = read_pairs(write_jsonl(tmp_path / "pref.jsonl", [record]))
    assert pair.prompt == "Describe."
    assert pair.chosen == "A man rides a horse on the beach."
    assert pair.rejected == "A woman rides a horse on the beach with a dog."
    # the insertion "with a dog" is widened by its next shared unit, the full stop
    assert phrases(pair.chosen, pair.chosen_spans) == ["man", "."]
    assert phrases(pair.rejected, pair.rejected_spans) == ["woman", "with a dog."]
    assert pair.images == ["beach.jpg"]


def test_auto_detection_per_record(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [dpa_record(), rrpo_record(), canonical_record(), trl_record()])
    assert [p.id for p in read_pairs(path)] == ["dpa-1", "17", "can-1", "3"]
    assert detect_pair_format(dpa_record()) == "dpa"
    assert detect_pair_format(rrpo_record()) == "rrpo"
    assert detect_pair_format(canonical_record()) == "canonical"
    assert detect_pair_format(trl_record()) == "preference"
    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_pair_format({"prompt": "x", "response": "y"})


def test_explicit_format(tmp_path):
    path = write_jsonl(tmp_path / "dpa.jsonl", [dpa_record()])
    assert read_pairs(path, format="dpa")[0].id == "dpa-1"
    with pytest.raises(DataError, match=r"missing field 'answer_masked'") as info:
        read_pairs(path, format="rrpo")
    assert f"{path}:1: record 'dpa-1'" in str(info.value)
    with pytest.raises(DataError, match="unknown pair format"):
        read_pairs(path, format="halva")


def test_placeholders():
    assert strip_placeholders("<image>\nDescribe.") == "Describe."
    assert strip_placeholders("Compare <image> and\n<image>\n please") == "Compare and please"
    assert split_placeholders("<image>\nWhat is it?") == ["<image>", "What is it?"]
    assert split_placeholders("a <video> b") == ["a", "<video>", "b"]


# ---------------------------------------------------------------------------------------------
# reference samples


def test_llava_conversations_multi_turn(tmp_path):
    records = [
        {
            "id": "000000033471",
            "image": "coco/train2017/000000033471.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\nWhat are the colors of the bus in the image?"},
                {"from": "gpt", "value": "The bus in the image is white and red."},
                {"from": "human", "value": "What feature can be seen on the back of the bus?"},
                {"from": "gpt", "value": "The back of the bus features an advertisement."},
            ],
        },
        {
            "id": "text-only",
            "conversations": [
                {"from": "human", "value": "Say hi."},
                {"from": "gpt", "value": "Hi!"},
                {"from": "human", "value": "A trailing question without an answer?"},
            ],
        },
        {"id": "canon", "prompt": "<image>\nWhat is it?", "response": "A cat.", "images": ["a.png"]},
    ]
    path = write_json_array(tmp_path / "llava_mix.json", records)
    conv, text_only, canon = read_conversations(path)
    assert conv.id == "000000033471" and conv.images == ["coco/train2017/000000033471.jpg"]
    assert conv.turns == [
        ("user", "<image>\nWhat are the colors of the bus in the image?"),
        ("assistant", "The bus in the image is white and red."),
        ("user", "What feature can be seen on the back of the bus?"),
        ("assistant", "The back of the bus features an advertisement."),
    ]
    assert conv.source == f"{path}:{brace_line(path, CONV)}"
    assert text_only.turns == [("user", "Say hi."), ("assistant", "Hi!")] and text_only.images == []
    assert canon.turns == [("user", "<image>\nWhat is it?"), ("assistant", "A cat.")]
    assert canon.images == ["a.png"]


# ---------------------------------------------------------------------------------------------
# bad input: DataError with file:line and the record id


def assert_error(path, line, record_id, match, reader=read_pairs):
    with pytest.raises(DataError, match=match) as info:
        reader(path)
    message = str(info.value)
    assert f"{path}:{line}: record {record_id!r}: " in message, message
    assert "\n" not in message
    return message


def test_different_numbers_of_phrases(tmp_path):
    bad = dpa_record("dpa-bad", hallucinated_answer_masked="The image shows a <MASK>blue bus</MASK> parked.")
    path = write_json_array(tmp_path / "halva.json", [dpa_record(), bad, dpa_record("dpa-3")])
    assert_error(path, brace_line(path, '"dpa-bad"'), "dpa-bad", "2 tagged phrases but rejected has 1")


def test_tags_only_in_rejected_is_a_phrase_count_mismatch(tmp_path):
    bad = canonical_record("can-bad", chosen="A cat sleeps.", rejected="A <MASK>dog</MASK> sleeps.")
    path = write_jsonl(tmp_path / "pairs.jsonl", [canonical_record(), bad])
    assert_error(path, 2, "can-bad", "0 tagged phrases but rejected has 1")


@pytest.mark.parametrize(
    "chosen, rejected, match",
    [
        ("A <MASK>cat sleeps.", "A <MASK>dog</MASK> sleeps.", "chosen: .*never closed"),
        ("A <MASK>cat</MASK> sleeps.", "A dog</MASK> sleeps.", "rejected: .*without"),
        ("A <MASK>big <MASK>cat</MASK></MASK>.", "A <MASK>dog</MASK>.", "chosen: nested"),
        ("A <MASK></MASK> cat.", "A <MASK>dog</MASK>.", "chosen: empty tagged phrase"),
    ],
)
def test_malformed_tags(tmp_path, chosen, rejected, match):
    bad = canonical_record("can-bad", chosen=chosen, rejected=rejected)
    path = write_jsonl(tmp_path / "pairs.jsonl", [canonical_record(), canonical_record("can-2"), bad])
    assert_error(path, 3, "can-bad", match)


def test_nested_tags_in_rrpo(tmp_path):
    bad = rrpo_record("s-bad", pred_masked="The person <MASK>sits <MASK>down</MASK></MASK> and <MASK>x</MASK>.")
    path = write_json_array(tmp_path / "rrpo.json", [rrpo_record(1), bad])
    assert_error(path, brace_line(path, '"s-bad"'), "s-bad", "rejected: nested")


@pytest.mark.parametrize(
    "over, match",
    [
        ({"chosen": ""}, "empty chosen response"),
        ({"rejected": "  \n "}, "empty rejected response"),
        ({"chosen": "<MASK>  </MASK>", "rejected": "<MASK>x</MASK>"}, "chosen: empty tagged phrase"),
    ],
)
def test_empty_response(tmp_path, over, match):
    path = write_jsonl(tmp_path / "pairs.jsonl", [canonical_record(), canonical_record("can-bad", **over)])
    assert_error(path, 2, "can-bad", match)


def test_empty_response_dpa(tmp_path):
    bad = dpa_record("dpa-bad", hallucinated_answer_masked="   ")
    path = write_json_array(tmp_path / "halva.json", [bad])
    assert_error(path, 2, "dpa-bad", "empty rejected response")


def test_identical_chosen_rejected_in_preference_format(tmp_path):
    same = trl_record(id="same", rejected=[{"role": "assistant", "content": "The car is  red and small."}])
    path = write_jsonl(tmp_path / "trl.jsonl", [trl_record(id="ok"), same])
    assert_error(path, 2, "same", "identical")


def test_duplicate_ids(tmp_path):
    path = write_jsonl(
        tmp_path / "pairs.jsonl", [canonical_record("a"), canonical_record("b"), canonical_record("a")]
    )
    message = assert_error(path, 3, "a", "duplicate id")
    assert f"first at {path}:1" in message


def test_duplicate_ids_across_formats(tmp_path):
    path = write_jsonl(tmp_path / "mixed.jsonl", [rrpo_record("x1"), dpa_record("x1")])
    assert_error(path, 2, "x1", "duplicate id")


def test_images_and_video_together(tmp_path):
    bad = canonical_record("both", video="clip.mp4")
    path = write_jsonl(tmp_path / "pairs.jsonl", [bad])
    assert_error(path, 1, "both", "either images or a video")


def test_missing_field_and_empty_file(tmp_path):
    bad = dpa_record("dpa-bad")
    del bad["hallucinated_answer_masked"]
    path = write_jsonl(tmp_path / "halva.jsonl", [dpa_record(), bad])
    assert_error(path, 2, "dpa-bad", "missing field 'hallucinated_answer_masked'")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no records"):
        read_pairs(empty)


def test_invalid_json_is_reported_with_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(canonical_record()) + "\n" + '{"id": "x", "prompt": \n')
    with pytest.raises(DataError, match="invalid JSON") as info:
        read_pairs(path)
    assert f"{path}:2:" in str(info.value)


@pytest.mark.parametrize(
    "conversations, match",
    [
        ([{"from": "human", "value": "Hi"}, {"from": "robot", "value": "Hello"}], "unknown speaker 'robot'"),
        ([{"from": "gpt", "value": "Hello"}, {"from": "human", "value": "Hi"}], "start with a user turn"),
        (
            [{"from": "human", "value": "Hi"}, {"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Yo"}],
            "alternate",
        ),
        ([{"from": "human", "value": "<image>\nHi"}, {"from": "gpt", "value": "  "}], "empty response"),
        ([{"from": "human", "value": "<image>\nHi"}], "no assistant turn"),
        ([], "start with a user turn"),
    ],
)
def test_bad_conversations(tmp_path, conversations, match):
    good = {"id": "good", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}
    bad = {"id": "conv-bad", "image": "x.jpg", "conversations": conversations}
    path = write_json_array(tmp_path / "refs.json", [good, bad])
    assert_error(path, brace_line(path, '"conv-bad"'), "conv-bad", match, reader=read_conversations)


def test_bad_canonical_reference(tmp_path):
    path = write_jsonl(tmp_path / "refs.jsonl", [{"id": "r1", "prompt": "Hi", "response": ""}])
    assert_error(path, 1, "r1", "empty response", reader=read_conversations)
    path = write_jsonl(tmp_path / "refs2.jsonl", [{"id": "r2", "prompt": "Hi"}])
    assert_error(path, 1, "r2", "missing field 'response'", reader=read_conversations)


def test_in_memory_helpers():
    pair = pair_from_dict(canonical_record(), source="mem:1")
    assert pair.source == "mem:1" and pair.num_phrases == 2
    conv = conversation_from_dict({"prompt": "Q", "response": "A"}, "auto", "mem:2", "r")
    assert conv.turns == [("user", "Q"), ("assistant", "A")]


# ---------------------------------------------------------------------------------------------
# text that would put tag markup or nothing into what the model is trained on


@pytest.mark.parametrize(
    "chosen, rejected, match",
    [
        ("A <mask>cat</mask> sleeps.", "A <mask>dog</mask> sleeps.", "malformed tag '<mask>'"),
        ("A <MASK>cat</MASK> sleeps.", "A < MASK>dog</MASK> sleeps.", "rejected: malformed tag '< MASK>'"),
        ("A <MASK>cat</Mask> sleeps.", "A <MASK>dog</MASK> sleeps.", "chosen: malformed tag '</Mask>'"),
        ("A <MASK>\u200b</MASK> sleeps.", "A <MASK>dog</MASK> sleeps.", "chosen: empty tagged phrase.*invisible"),
        ("A <MASK> \u2060\ufeff </MASK> sleeps.", "A <MASK>dog</MASK> sleeps.", "chosen: empty tagged phrase"),
    ],
)
def test_tag_like_markup_and_invisible_phrases_are_errors(tmp_path, chosen, rejected, match):
    bad = canonical_record("can-bad", chosen=chosen, rejected=rejected)
    path = write_jsonl(tmp_path / "pairs.jsonl", [canonical_record(), bad])
    assert_error(path, 2, "can-bad", match)


def test_invisible_characters_around_a_phrase_are_not_part_of_it():
    record = pair_from_dict(canonical_record(chosen="A <MASK>\u200bcat\u200b</MASK> sleeps.", rejected="A <MASK>dog</MASK> sleeps."))
    assert phrases(record.chosen, record.chosen_spans) == ["cat"]


@pytest.mark.parametrize(
    "record, match",
    [
        (canonical_record("bad", prompt="Describe the <MASK>image</MASK>."), "the prompt holds a phrase tag"),
        (dpa_record("bad", question="<image>\nIs there a <mask>car</mask>?"), "the prompt holds a phrase tag"),
        (canonical_record("bad", chosen="<image> A <MASK>cat</MASK>.", rejected="A <MASK>dog</MASK>."),
         "chosen holds the media placeholder <image>"),
        (canonical_record("bad", prompt="<image> <image> Compare."), "2 <image> placeholder.*1 images"),
        (canonical_record("bad", prompt="<video> What happens?"), "1 <video> placeholder.*0 videos"),
    ],
)
def test_tags_in_prompts_and_misplaced_placeholders(tmp_path, record, match):
    path = write_jsonl(tmp_path / "pairs.jsonl", [record])
    assert_error(path, 1, "bad", match)


def test_preference_format_refuses_tagged_text(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", [canonical_record("tagged")])
    with pytest.raises(DataError, match=f"{path}:1: record 'tagged': format=preference takes untagged text"):
        read_pairs(path, format="preference")


@pytest.mark.parametrize(
    "over, match",
    [
        ({"rejected": "A <MASK>cat</MASK> sleeps on a <MASK>green sofa</MASK>."}, "identical"),
        ({"rejected": "A<MASK>cat</MASK> sleeps on a<MASK> green sofa </MASK>."}, "every tagged phrase of chosen equals"),
    ],
)
def test_pairs_with_nothing_to_prefer_are_errors(tmp_path, over, match):
    good = canonical_record()
    bad = canonical_record("can-bad", **over)
    path = write_jsonl(tmp_path / "pairs.jsonl", [good, bad])
    assert_error(path, 2, "can-bad", match)


@pytest.mark.parametrize(
    "over, match",
    [
        ({"images": 3}, "field 'images' must be a path or a list of paths, got 3"),
        ({"images": [{"path": "a.jpg"}]}, "field 'images' must be a path"),
        ({"images": [], "video": ""}, "field 'video' must be a path, got ''"),
        ({"images": [], "video": 7}, "field 'video' must be a path, got 7"),
    ],
)
def test_media_fields_of_the_wrong_type(tmp_path, over, match):
    path = write_jsonl(tmp_path / "pairs.jsonl", [canonical_record("bad", **over)])
    assert_error(path, 1, "bad", match)


def test_null_media_fields_mean_none(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", [canonical_record("a", images=None, video=None, prompt="Describe it.")])
    record = read_pairs(path)[0]
    assert (record.images, record.video) == ([], None)


@pytest.mark.parametrize(
    "record, match",
    [
        ({"id": "r", "image": "a.jpg", "conversations": "human: hi"}, "'conversations' must be a list of turns, got str"),
        ({"id": "r", "image": "a.jpg", "conversations": ["hi", "there"]}, "turn 0 of conversations must be an object"),
        ({"id": "r", "image": "a.jpg", "conversations": [{"from": "human", "value": "<image> <image> Hi?"},
                                                          {"from": "gpt", "value": "Hello."}]},
         "2 <image> placeholder.*1 images"),
        ({"id": "r", "image": None, "conversations": [{"from": "human", "value": "<image>\nHi?"},
                                                       {"from": "gpt", "value": "Hello."}]},
         "1 <image> placeholder.*0 images"),
        ({"id": "r", "image": "a.jpg", "conversations": [{"from": "human", "value": "Hi?"},
                                                          {"from": "gpt", "value": "See <image> here."}]},
         "turn 1 \\(an answer\\) holds the media placeholder <image>"),
    ],
)
def test_bad_reference_samples(tmp_path, record, match):
    path = write_jsonl(tmp_path / "refs.jsonl", [record])
    assert_error(path, 1, "r", match, reader=read_conversations)


def test_official_rrpo_video_under_media_path(tmp_path):
    # the official RRPO loader reads the video from media_path; without it the pair would train text-only
    record = rrpo_record(5, media_path="videos/clip5.mp4")
    del record["video"]
    both = rrpo_record(6, video="clip6", media_path="videos/clip6.mp4")
    first, second = read_pairs(write_jsonl(tmp_path / "rrpo.jsonl", [record, both]))
    assert first.video == "videos/clip5.mp4" and second.video == "videos/clip6.mp4"


def test_official_dpa_raw_answer_is_kept_for_yes_no_balancing(tmp_path):
    path = tmp_path / "dpa.json"
    path.write_text(json.dumps([dpa_record("q1", tag="qa", raw_answer="No"), dpa_record("c1")]))
    qa, closed = read_pairs(path)
    assert (qa.kind, qa.answer) == ("qa", "No") and closed.answer is None
