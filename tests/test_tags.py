"""Tests of mmalign.data.tags: <MASK> parsing, its inverse, and phrases from a word-level diff."""

from __future__ import annotations

from itertools import pairwise

import pytest

from mmalign.data.tags import (
    TagError,
    diff_spans,
    differing_share,
    has_tags,
    parse_tags,
    strip_tags,
    strip_with_spans,
    tag_text,
)


def phrases(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[s:e] for s, e in spans]


# ---------------------------------------------------------------------------------------------
# parse_tags


def test_parse_single_phrase():
    plain, spans = parse_tags("There is a <MASK>red car</MASK> on the road")
    assert plain == "There is a red car on the road"
    assert spans == [(11, 18)]
    assert phrases(plain, spans) == ["red car"]


def test_parse_punctuation_right_after_closing_tag():
    plain, spans = parse_tags("a <MASK>red car</MASK>. And <MASK>two dogs</MASK>, sitting<MASK>!</MASK>")
    assert plain == "a red car. And two dogs, sitting!"
    assert phrases(plain, spans) == ["red car", "two dogs", "!"]
    # the punctuation after a tag stays outside the phrase
    assert plain[spans[0][1]] == "." and plain[spans[1][1]] == ","


def test_parse_several_phrases_in_order():
    text = "<MASK>A cat</MASK> sits <MASK>on</MASK> the <MASK>blue mat</MASK> near <MASK>2</MASK> chairs"
    plain, spans = parse_tags(text)
    assert plain == "A cat sits on the blue mat near 2 chairs"
    assert phrases(plain, spans) == ["A cat", "on", "blue mat", "2"]
    assert spans == sorted(spans)
    assert all(e1 <= s2 for (_, e1), (s2, _) in pairwise(spans))


def test_parse_adjacent_phrases_and_no_tags():
    plain, spans = parse_tags("<MASK>red</MASK><MASK>dish</MASK> tone")
    assert plain == "reddish tone"
    assert spans == [(0, 3), (3, 7)]
    assert parse_tags("no tags at all.") == ("no tags at all.", [])
    assert parse_tags("") == ("", [])


def test_parse_keeps_non_ascii_offsets():
    plain, spans = parse_tags("Un <MASK>café crème</MASK> — très bon")
    assert phrases(plain, spans) == ["café crème"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("a <MASK>red <MASK>car</MASK></MASK>", "nested"),
        ("a red</MASK> car", "without"),
        ("a <MASK>red</MASK> car</MASK>", "without"),
        ("a <MASK>red car", "never closed"),
        ("a <MASK>red</MASK> <MASK>car", "never closed"),
        ("a <MASK></MASK> car", "empty"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(TagError, match=message):
        parse_tags(text)


def test_tag_error_is_value_error():
    assert issubclass(TagError, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        "There is a <MASK>red car</MASK>.",
        "<MASK>A</MASK> b <MASK>c d</MASK>",
        "no tags",
        "<MASK>red</MASK><MASK>dish</MASK>",
    ],
)
def test_tag_text_is_inverse_of_parse_tags(text):
    plain, spans = parse_tags(text)
    assert tag_text(plain, spans) == text
    assert parse_tags(tag_text(plain, spans)) == (plain, spans)


def test_has_and_strip_tags():
    assert has_tags("a <MASK>b</MASK>") and has_tags("stray </MASK>")
    # anything meant as a tag counts, so that a misspelt one is reported rather than trained on
    assert has_tags("a <mask>b</mask>") and has_tags("< MASK >") and has_tags("</Mask >")
    assert not has_tags("a <MASKED> b") and not has_tags("mask")
    assert strip_tags("a <MASK>b</MASK>.") == "a b."


def test_strip_with_spans_shifts_spans():
    plain, spans = parse_tags("  \n a <MASK>red</MASK> car. ")
    stripped, shifted = strip_with_spans(plain, spans)
    assert stripped == "a red car."
    assert phrases(stripped, shifted) == ["red"]


# ---------------------------------------------------------------------------------------------
# diff_spans


def diff(chosen: str, rejected: str) -> tuple[list[str], list[str]]:
    chosen_spans, rejected_spans = diff_spans(chosen, rejected)
    assert len(chosen_spans) == len(rejected_spans)
    return phrases(chosen, chosen_spans), phrases(rejected, rejected_spans)


def test_diff_replacement_of_one_word():
    assert diff("There is a red car.", "There is a blue car.") == (["red"], ["blue"])


def test_diff_multi_word_replacement():
    assert diff("A man is riding a horse.", "A young woman is riding a horse.") == (["man"], ["young woman"])
    assert diff("The cat sits on the mat.", "The big brown dog sits on the mat.") == (
        ["cat"],
        ["big brown dog"],
    )


def test_diff_several_phrases():
    chosen = "The cat sat on the mat."
    rejected = "The dog sat under the mat."
    assert diff(chosen, rejected) == (["cat", "on"], ["dog", "under"])


def test_diff_deletion_is_widened_by_the_next_word():
    # "red" exists only in chosen: both sides must hold a real phrase, so the neighbour joins.
    assert diff("a red car", "a car") == (["red car"], ["car"])


def test_diff_insertion_is_widened_by_the_next_word():
    assert diff("a car", "a big car") == (["car"], ["big car"])


def test_diff_insertion_at_the_end_is_widened_by_the_previous_word():
    assert diff("a car", "a car parked") == (["car"], ["car parked"])
    assert diff("one two three", "one two") == (["two three"], ["two"])


def test_diff_widened_runs_are_never_empty():
    for chosen, rejected in [
        ("one two three four", "one three four five"),
        ("red", "red car"),
        ("The cat.", "The cat is."),
        ("a b c", "x a b c"),
    ]:
        chosen_spans, rejected_spans = diff_spans(chosen, rejected)
        assert chosen_spans and len(chosen_spans) == len(rejected_spans)
        assert all(e > s for s, e in chosen_spans + rejected_spans)
        # spans are sorted and do not overlap
        for spans in (chosen_spans, rejected_spans):
            assert all(e1 <= s2 for (_, e1), (s2, _) in pairwise(spans))


def test_diff_identical_texts_give_no_spans():
    assert diff_spans("The same text.", "The same text.") == ([], [])
    assert diff_spans("same  words\nhere", "same words here") == ([], [])


def test_diff_one_empty_side_gives_no_spans():
    assert diff_spans("", "something") == ([], [])
    assert diff_spans("something", "") == ([], [])


def test_diff_punctuation_is_a_unit():
    assert diff("Yes, it is.", "No, it is.") == (["Yes"], ["No"])
    assert diff("It's red!", "It's red?") == (["!"], ["?"])


# ---------------------------------------------------------------------------------------------
# differing_share


def test_differing_share():
    text = "a red car is here"  # 5 words
    assert differing_share(text, []) == 0.0
    assert differing_share(text, [(2, 9)]) == pytest.approx(2 / 5)
    assert differing_share(text, [(0, len(text))]) == 1.0
    assert differing_share("", [(0, 1)]) == 0.0
    # a span touching part of a word counts that word
    assert differing_share(text, [(3, 4)]) == pytest.approx(1 / 5)


def test_differing_share_of_diff_spans():
    chosen, rejected = "There is a red car.", "There is a blue car."
    chosen_spans, _ = diff_spans(chosen, rejected)
    assert differing_share(chosen, chosen_spans) == pytest.approx(1 / 6)  # 5 words + "."
