"""The metric functions against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import json

import pytest

from mmalign.eval.metrics import (
    amber_discriminative,
    amber_generative,
    caption_objects,
    chair,
    mme,
    mmhal,
    pope,
    vcr_order,
)

INSTANCES = {
    "images": [{"id": i, "file_name": f"{i}.jpg"} for i in (1, 2, 3, 4)],
    "categories": [
        {"id": 1, "name": "person"},
        {"id": 18, "name": "dog"},
        {"id": 67, "name": "dining table"},
        {"id": 47, "name": "cup"},
        {"id": 88, "name": "teddy bear"},
        {"id": 15, "name": "bench"},
    ],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1},
        {"id": 2, "image_id": 1, "category_id": 18},
        {"id": 3, "image_id": 1, "category_id": 18},
        {"id": 4, "image_id": 2, "category_id": 67},
        {"id": 5, "image_id": 2, "category_id": 47},
        {"id": 6, "image_id": 3, "category_id": 88},
        {"id": 7, "image_id": 4, "category_id": 15},
    ],
}
COCO_CAPTIONS = {"annotations": [{"id": 9, "image_id": 2, "caption": "Cups and a laptop on a wooden table."}]}
CAPTIONS = {
    # man→person, dogs→dog, "hot dog" (one word, not a dog), cat; truth {person, dog}: 2 of 4 wrong;
    # 14 tokens: a man walk two dog past a [hot dog] stand . a cat watch .
    1: "A man walks two dogs past a hot dog stand. A cat watches.",
    # "laptop computer"→laptop, desk→dining table ("mug" is not in CHAIR's table); truth {dining table,
    # cup} + laptop and cup from the reference caption: none wrong; 11 tokens
    2: "A laptop computer and a coffee mug sit on a desk.",
    # "baby elephant"→elephant (not a person), "teddy bear" (not a bear), "toilet seat"→toilet; truth
    # {teddy bear}: elephant and toilet wrong, 2 of 3; 10 tokens: a elephant and a [teddy bear] sit on the toilet .
    3: "A baby elephant and a teddy bear sit on the toilet seat.",
    # no object; truth {bench}; 5 tokens
    "4": "There is nothing here.",
}


def test_chair_with_reference_captions():
    result = chair(CAPTIONS, INSTANCES, COCO_CAPTIONS)
    assert result["chair_s"] == pytest.approx(100 * 2 / 4)  # captions 1 and 3 hallucinate
    assert result["chair_i"] == pytest.approx(100 * 4 / 9)  # (2 + 0 + 2 + 0) of (4 + 2 + 3 + 0) mentions
    assert result["recall"] == pytest.approx(100 * 5 / 7)  # (2 + 2 + 1 + 0) of (2 + 3 + 1 + 1) truth objects
    assert result["length"] == pytest.approx((14 + 11 + 10 + 5) / 4)
    assert result["per_image"][3]["hallucinated"] == [["elephant", "elephant"], ["toilet", "toilet"]]
    assert result["num_mentions"] == 9 and result["num_hallucinated"] == 4
    assert result["nlp"] in ("nltk", "offline")


def test_chair_from_files_without_reference_captions(tmp_path):
    path = tmp_path / "instances_val2014.json"
    path.write_text(json.dumps(INSTANCES))
    result = chair(CAPTIONS, str(path))
    # the laptop of caption 2 is now hallucinated: captions 1, 2, 3 hallucinate; 5 of 9 mentions
    assert result["chair_s"] == pytest.approx(75.0)
    assert result["chair_i"] == pytest.approx(100 * 5 / 9)
    assert result["recall"] == pytest.approx(100 * 4 / 6)  # (2 + 1 + 1 + 0) of (2 + 2 + 1 + 1)


def test_ground_truth_reads_reference_captions_of_the_scored_images_only():
    from mmalign.eval.metrics.chair import ground_truth

    assert ground_truth(INSTANCES, COCO_CAPTIONS)[2] == {"dining table", "cup", "laptop"}  # the caption adds the laptop
    assert ground_truth(INSTANCES, COCO_CAPTIONS, images=[1])[2] == {"dining table", "cup"}  # image 2 is not scored


def test_chair_rejects_unknown_images():
    with pytest.raises(ValueError, match="image id 99"):
        chair({99: "A dog."}, INSTANCES)


@pytest.mark.parametrize(
    "caption,expected",
    [
        ("Two children ride bicycles past a bus stop.", ["person", "bicycle", "bus"]),  # "bus stop" is no rule
        ("A glass of orange juice and two oranges.", ["orange", "orange"]),  # a glass is no wine glass
        ("The seat of the toilet is up; a chair stands by.", ["toilet", "chair"]),  # that seat is the toilet's
        ("A passenger train and a passenger.", ["train", "person"]),
        ("Wine glasses, skis and pairs of scissors.", ["wine glass", "skis", "scissors"]),
        ("Mice near a computer mouse.", ["mouse", "laptop", "mouse"]),  # a computer is a laptop in CHAIR's table
        ("Two cars parked by the street.", ["car"]),  # "car park" is no rule: the car counts
        ("A man skiing down a hill.", ["person", "skis"]),  # skiing, a verb here, is ski
        ("People skateboarding in the park.", ["person", "skateboard"]),
        ("A goat, a bagel and a street light.", ["sheep", "donut", "traffic light"]),
        ("A potted plant and a baseball bat.", ["potted plant", "baseball bat"]),
        ("A plant near a bat.", []),  # neither is in CHAIR's table alone
        ("A woman seated on a bench.", ["person", "chair", "bench"]),  # seated is the verb seat: a chair
    ],
)
def test_caption_objects_word_handling(caption, expected):
    assert [category for _, category in caption_objects(caption)] == expected


def test_pope():
    predictions = ["Yes, there is.", "No.", "yes", "There is a dog.", "no", "I think not."]
    labels = ["yes", "no", "no", "yes", "yes", "no"]
    # parsed: yes, no, yes, (unparseable), no, no → TP 1 (q1), TN 2 (q2, q6), FP 1 (q3), FN 1 (q5),
    # and q4 (label yes) unparseable: a miss.
    result = pope(predictions, labels)
    assert result["accuracy"] == pytest.approx(100 * 3 / 6)
    assert result["precision"] == pytest.approx(100 * 1 / 2)
    assert result["recall"] == pytest.approx(100 * 1 / 3)  # 3 questions are labelled yes
    assert result["f1"] == pytest.approx(40.0)  # 2·0.5·(1/3) / (0.5 + 1/3) = 0.4
    assert result["yes_ratio"] == pytest.approx(100 * 2 / 6)
    assert result["unparseable"] == 1 and result["n"] == 6


def test_pope_rejects_bad_labels():
    with pytest.raises(ValueError, match="label must be yes or no"):
        pope(["yes"], ["maybe"])


def test_vcr_order():
    predicted = [[1, 2, 4, 3], [3, 1, 2], None, [2, 1], [1, 2, 3, 4]]
    truth = [[1, 2, 4, 3], [2, 3, 1], [1, 2], [1, 2, 3], [1, 2, 4, 3]]
    result = vcr_order(predicted, truth)
    assert result["accuracy"] == pytest.approx(100 * 1 / 5)  # only the first is whole
    # right positions 4 + 0 + 0 (unparseable) + 0 (wrong length) + 2, of 4 + 3 + 2 + 3 + 4 positions
    assert result["step_accuracy"] == pytest.approx(100 * 6 / 16)
    assert result["unparseable"] == 1 and result["n"] == 5


ASSOCIATION = {"dog": ["puppy"], "grass": ["lawn"], "frisbee": ["disc"], "ball": [], "cat": ["kitten"],
               "sofa": ["couch"], "tree": [], "sky": [], "table": []}
AMBER_ANNOTATIONS = {
    1: {"type": "generative", "truth": ["dog", "grass"], "hallu": ["frisbee", "ball"]},
    2: {"type": "generative", "truth": ["cat", "sofa"], "hallu": ["dog"]},
    1005: {"type": "discriminative-hallucination", "truth": "yes"},
    1006: {"type": "discriminative-attribute-action", "truth": "no"},
    1007: {"type": "discriminative-attribute-number", "truth": "no"},
    1008: {"type": "discriminative-relation", "truth": "yes"},
}


def test_amber_generative():
    responses = {
        # nouns in the vocabulary: puppy (dog's), lawn (grass's), sky (safe word), frisbee, ball, tree →
        # the last three hallucinated; frisbee and ball are the annotated likely hallucinations
        1: "A puppy plays on the lawn under the sky with a frisbee and a ball near a tree.",
        # kittens → kitten (cat's), couch (sofa's): nothing hallucinated
        2: "Two kittens sleep on a couch.",
    }
    result = amber_generative(responses, AMBER_ANNOTATIONS, ASSOCIATION, ["sky"])
    assert result["chair"] == 37.5  # 3 hallucinated of 6 + 2 mentions (the safe sky counts)
    assert result["cover"] == 100.0  # dog, grass, cat, sofa all covered
    assert result["hal"] == 50.0  # response 1 of 2
    assert result["cog"] == 66.7  # frisbee, ball of frisbee, ball, dog: round(66.67, 1)
    assert result["similarity"] == "left out"


def test_amber_discriminative():
    # 1005 existence (truth yes) "Yes": right; 1006 action (no) "No": right, a "no" answer;
    # 1007 number (no) "Yes.": not exactly Yes or No, wrong; 1008 relation (yes) "yes": wrong
    responses = {1005: "Yes", 1006: "No", 1007: "Yes.", 1008: "yes"}
    result = amber_discriminative(responses, AMBER_ANNOTATIONS)
    overall = result["overall"]
    assert overall["accuracy"] == 50.0
    assert overall["precision"] == 100.0  # one "No", right
    assert overall["recall"] == 50.0  # of the two "no" truths (1006, 1007)
    assert overall["f1"] == 66.7  # round(2·1·0.5 / (1.5 + 0.0001) · 100, 1)
    assert overall["unparseable"] == 2
    assert result["attribute"]["accuracy"] == 50.0 and result["attribute"]["n"] == 2
    assert result["action"]["f1"] == 100.0  # round(2 / 2.0001 · 100, 1)
    assert result["relation"]["accuracy"] == 0.0 and result["existence"]["accuracy"] == 100.0
    assert result["existence"]["f1"] == 0.0  # no "no" truth or answer


def test_mme():
    answers = [
        ("existence", "a", "Yes", "yes"),
        ("existence", "a", "no", "no"),  # image a: both right
        ("existence", "b", "No", "yes"),
        ("existence", "b", "No", "no"),  # image b: one right
        ("count", "c", "yes", "yes"),
        ("count", "c", "maybe", "no"),  # unparseable: wrong
    ]
    result = mme(answers)
    assert result["existence"]["accuracy"] == pytest.approx(75.0)  # 3 of 4
    assert result["existence"]["accuracy_plus"] == pytest.approx(50.0)  # 1 of 2 images
    assert result["existence"]["score"] == pytest.approx(125.0)
    assert result["count"]["score"] == pytest.approx(50.0 + 0.0)
    assert result["count"]["unparseable"] == 1
    assert result["total"] == pytest.approx(175.0)


def test_mmhal():
    result = mmhal([(6, "attribute"), (2, "attribute"), (None, "counting"), (3, "counting")])
    assert result["score"] == pytest.approx((6 + 2 + 0 + 3) / 4)  # no rating scores 0
    assert result["hallucination_rate"] == pytest.approx(50.0)  # 2 and 0 are below 3
    assert result["per_type"] == {"attribute": pytest.approx(4.0), "counting": pytest.approx(1.5)}
    assert result["unparseable"] == 1


def test_chair_with_another_object_set(tmp_path):
    from mmalign.eval.synonyms import read_synonyms
    from mmalign.errors import DataError

    (tmp_path / "objects.txt").write_text("cup, cups, mug, mugs\nkite, kites\n# a comment\nbowl\n")
    vocabulary = read_synonyms(tmp_path / "objects.txt")
    instances = {"images": [{"id": 1, "file_name": "1.png"}, {"id": 2, "file_name": "2.png"}],
                 "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "kite"}, {"id": 3, "name": "bowl"}],
                 "annotations": [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 2, "category_id": 2},
                                 {"id": 3, "image_id": 2, "category_id": 3}]}
    # image 1 (cup): cup, mug (the cup again), kite (absent); image 2 (kite, bowl): kites
    result = chair({1: "A cup and a mug by a kite.", 2: "Two kites."}, instances, vocabulary=vocabulary)
    assert (result["chair_s"], result["chair_i"], result["recall"]) == (50.0, 25.0, pytest.approx(200 / 3))
    with pytest.raises(ValueError, match="category 'person' is not in the synonym table"):
        chair({1: "x"}, {**instances, "categories": [{"id": 1, "name": "person"}]}, vocabulary=vocabulary)
    (tmp_path / "bad.txt").write_text("cup, mugs\nkite, , kites\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: empty word"):
        read_synonyms(tmp_path / "bad.txt")
    (tmp_path / "bad.json").write_text('{"cup": ["mug"],\n "kite": "kites"}')
    with pytest.raises(DataError, match=r"bad\.json: category 'kite': expected a list of non-empty words"):
        read_synonyms(tmp_path / "bad.json")
