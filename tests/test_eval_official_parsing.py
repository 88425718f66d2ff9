"""The official scripts' answer readers on awkward answers; each expected value was worked out by
following the script's rule by hand (quoted in the comment)."""

from __future__ import annotations

import pytest

from mmalign.eval.official_parsing import (
    amber_answer,
    mlvu_letter,
    mme_answer,
    mmhal_rating,
    pope_answer,
    vidhalluc_letters,
    vidhalluc_truth,
    videomme_letter,
)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Yes", "yes"), ("No", "no"), ("no.", "no"),
        ("No, there is not.", "no"),  # commas dropped: "No" is a word
        ("There is no dog.", "no"),
        ("I cannot tell.", "yes"),  # no "no"/"not" word: yes
        ("NO", "yes"),  # not one of "No", "no", "not"
        ("No!", "yes"),  # "No!" is not the word "No"
        ("Yes. But not the dog.", "yes"),  # only the first sentence counts
        ("There is not a cat", "no"),
        ("nope", "yes"),
    ],
)
def test_pope_answer(text, expected):
    assert pope_answer(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Yes", "yes"), ("no", "no"),
        ("Yes, there is a dog.", "yes"),
        ("There is no dog.", "other"),  # "ther" holds neither
        ("Not really", "no"),  # "not " holds "no"
        (" yes", "yes"),  # " yes"[:4] holds "yes"
        ("  yes", "other"),  # "  ye"
        ("Nope", "no"),
        ("The answer is yes", "other"),
    ],
)
def test_mme_answer(text, expected):
    assert mme_answer(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("C", "C"), ("(B) two", "B"), ("The best answer is D.", "D"),
        ("The correct option is C", "C"),
        ("Answer: (A)", "A"),
        ("The best option is C", "C"),  # the prefix is not removed (joined with the next one), and holds no A-D
        ("A man is dancing, so C", "A"),  # the article is the first capital A-D
        ("Based on the video, C", "B"),  # so is the B of "Based"
        ("none of these", None),  # left out of the denominator
        ("d", None),  # capitals only
    ],
)
def test_videomme_letter(text, expected):
    assert videomme_letter(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [("A", "A"), ("A) red", "A"), ("(B) blue", "B"), ("A.", "A."), ("The answer is (C) green", "C"), (")", ""), ("b", "b")],
)
def test_mlvu_letter(text, expected):
    assert mlvu_letter(text) == expected


CHOICES = {"A": "jumping", "B": "running", "C": "waving", "D": "sitting"}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("A, C", {"A", "C"}), ("A and C", {"A", "C"}), ("(A) (C)", {"A", "C"}),
        ("AC", set()),  # "AC" is one word: no letter; no option text either
        ("A man is waving", {"A"}),  # the article counts
        ("The person is running and waving", {"B"}),  # no letter: the first option whose text is in the answer
        ("a, c", set()),  # lower case letters are not read; no option text
        ("ABCD", set()),
    ],
)
def test_vidhalluc_letters(text, expected):
    assert set(vidhalluc_letters(text, CHOICES)) == expected


def test_vidhalluc_truth():
    assert vidhalluc_truth("AC") == {"A", "C"} and vidhalluc_truth(" a, d ") == {"A", "D"} and vidhalluc_truth("B") == {"B"}


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("Short explanation.\nRating: 5, very informative, no hallucination", 5),
        ("RATING: 3", 3),
        ("Rating:5", None),  # no space: not found
        ("Rating: 4 ... on reflection Rating: 2", None),  # two ratings
        ("Rating: 4. I repeat, rating: 4", 4),  # the same one twice is one rating
        ("Rating: 60", 6),  # "rating: 6" is in it
        ("no rating", None),
    ],
)
def test_mmhal_rating(reply, expected):
    assert mmhal_rating(reply) == expected


@pytest.mark.parametrize("text,expected", [("Yes", "yes"), ("No", "no"), ("yes", None), ("No.", None), ("Yes, it is", None)])
def test_amber_answer(text, expected):
    assert amber_answer(text) == expected
