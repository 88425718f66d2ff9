"""Answers read out of free text."""

from __future__ import annotations

import pytest

from mmalign.eval.parsing import (
    parse_choice,
    parse_choices,
    parse_order,
    parse_rating,
    parse_yes_no,
)

OPTIONS = ["dribbling a basketball", "passing the ball", "dunking"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("B", "B"),
        ("c", "C"),
        ("(B) passing the ball", "B"),
        ("B. passing the ball", "B"),
        ("Answer: C", "C"),
        ("The answer is (C).", "C"),
        ("The best option is B because he passes.", "B"),
        ("I think it's B.", "B"),
        ("**A**", "A"),
        ("A man is dribbling a basketball.", "A"),  # "A" is an article, but option A's text follows
        ("A man is passing the ball to a friend.", "B"),  # an article; the text names option B
        ("dunking", "C"),
        ("the answer is a dog", None),  # a lower-case "a" is no option
        ("B and C", None),  # two answers to a one-answer question
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_parse_choice(text, expected):
    assert parse_choice(text, OPTIONS) == expected


@pytest.mark.parametrize(
    "text,expected",
    [("AC", {"A", "C"}), ("A, C", {"A", "C"}), ("A and C", {"A", "C"}), ("(A) (C)", {"A", "C"}), ("B", {"B"}),
     ("passing the ball and dunking", {"B", "C"}), ("no idea", None)],
)
def test_parse_choices(text, expected):
    found = parse_choices(text, OPTIONS)
    assert (None if found is None else set(found)) == expected


@pytest.mark.parametrize(
    "text,expected",
    [("Yes", "yes"), ("no.", "no"), ("No, there is not.", "no"), ("There is no dog in the image.", "no"),
     ("The answer is yes.", "yes"), ("There isn't any.", "no"), ("There is a dog.", None), ("Not sure.", None),
     ("I cannot tell from the picture.", None), ("  **Yes**, a cat.", "yes"), ("", None)],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) == expected


@pytest.mark.parametrize(
    "text,steps,expected",
    [("Correct order: 3, 1, 2", 3, [3, 1, 2]), ("Clip 2, Clip 3, Clip 1", 3, [2, 3, 1]),
     ("First clip 1 shows cutting.\n**Correct order:** 2, 1", 2, [2, 1]), ("1, 2, 3, 4", 3, None),
     ("Correct order: 1, 1, 2", 3, None), ("no idea", 2, None)],
)
def test_parse_order(text, steps, expected):
    assert parse_order(text, steps) == expected


def test_parse_rating():
    assert parse_rating("The answer is fine.\nRating: 5") == 5
    assert parse_rating("rating: 6") == 6
    assert parse_rating("Rating: 4, or maybe Rating: 5") is None  # hedged
    assert parse_rating("Rating: 9") is None  # off the 0-6 scale
    assert parse_rating("no rating") is None
