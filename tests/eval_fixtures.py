"""Small hand-made benchmark files in each benchmark's released layout, for the eval tests.

Every builder writes into a folder and returns the ``key=value`` arguments that point a benchmark at
it. Images are tiny PNG/JPEG pictures; videos are 8-frame 56×56 clips.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mmalign.data.media import write_video
from mmalign.tiny import make_image


def _image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_image(seed).convert("RGB").save(path)
    return path


def _video(path: Path, seed: int = 0) -> Path:
    frames = np.random.default_rng(seed).integers(0, 255, (8, 56, 56, 3), dtype=np.uint8)
    return write_video(path, frames, fps=4)


def _json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def _jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------- images
COCO_CATEGORIES = [
    {"id": 1, "name": "person"},
    {"id": 18, "name": "dog"},
    {"id": 67, "name": "dining table"},
    {"id": 47, "name": "cup"},
    {"id": 88, "name": "teddy bear"},
]


def coco(root: Path) -> dict:
    """Three val2014 images: 1 person+dog, 2 dining table+cup, 3 teddy bear (and a caption-only cat)."""
    images = [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg"} for i in (1, 2, 3)]
    for i, image in enumerate(images):
        _image(root / "val2014" / image["file_name"], i)
    annotations = [
        {"id": 10, "image_id": 1, "category_id": 1},
        {"id": 11, "image_id": 1, "category_id": 18},
        {"id": 12, "image_id": 2, "category_id": 67},
        {"id": 13, "image_id": 2, "category_id": 47},
        {"id": 14, "image_id": 3, "category_id": 88},
    ]
    instances = _json(root / "instances_val2014.json", {"images": images, "annotations": annotations, "categories": COCO_CATEGORIES})
    captions = _json(
        root / "captions_val2014.json",
        {"images": images, "annotations": [{"id": 20, "image_id": 3, "caption": "A teddy bear next to a sleeping cat."}]},
    )
    return {"benchmark": "chair", "instances_file": str(instances), "captions_file": str(captions),
            "media_root": str(root / "val2014"), "num_images": 3}


def coco_awkward(root: Path) -> dict:
    """Four val2014 images whose objects the awkward captions of the CHAIR tests name in other words:
    1 person + skis, 2 sheep + donut (a reference caption adds a bench), 3 potted plant + baseball
    bat, 4 person."""
    categories = [{"id": 1, "name": "person"}, {"id": 35, "name": "skis"}, {"id": 20, "name": "sheep"},
                  {"id": 60, "name": "donut"}, {"id": 64, "name": "potted plant"}, {"id": 39, "name": "baseball bat"},
                  {"id": 15, "name": "bench"}, {"id": 3, "name": "car"}]
    images = [{"id": i, "file_name": f"COCO_val2014_{i:012d}.jpg"} for i in (1, 2, 3, 4)]
    for i, image in enumerate(images):
        _image(root / "val2014" / image["file_name"], i)
    objects = {1: [1, 35], 2: [20, 60], 3: [64, 39], 4: [1]}
    annotations = [{"id": 10 * i + k, "image_id": i, "category_id": c} for i, cs in objects.items() for k, c in enumerate(cs)]
    instances = _json(root / "annotations" / "instances_val2014.json",
                      {"images": images, "annotations": annotations, "categories": categories})
    captions = _json(root / "annotations" / "captions_val2014.json",
                     {"images": images, "annotations": [{"id": 1, "image_id": 2, "caption": "Goats eat bagels on a bench."}]})
    return {"benchmark": "chair", "instances_file": str(instances), "captions_file": str(captions),
            "media_root": str(root / "val2014"), "num_images": 4}


def pope(root: Path) -> dict:
    for i in range(3):
        _image(root / "val2014" / f"COCO_val2014_{i:012d}.jpg", i)
    for split, labels in (("random", ["yes", "no", "yes"]), ("adversarial", ["no", "no", "yes"])):
        _jsonl(
            root / "pope" / f"coco_pope_{split}.json",
            [{"question_id": i + 1, "image": f"COCO_val2014_{i:012d}.jpg", "text": f"Is there a dog in the image? ({split})",
              "label": label} for i, label in enumerate(labels)],
        )
    return {"benchmark": "pope", "annotation": str(root / "pope"), "media_root": str(root / "val2014")}


def amber(root: Path) -> dict:
    for i in (1, 2, 3):
        _image(root / "image" / f"AMBER_{i}.jpg", i)
    queries = [
        {"id": 1, "image": "AMBER_1.jpg", "query": "Describe this image."},
        {"id": 2, "image": "AMBER_2.jpg", "query": "Describe this image."},
        {"id": 1005, "image": "AMBER_1.jpg", "query": "Is there a dog in this image?"},
        {"id": 1006, "image": "AMBER_2.jpg", "query": "Is the cat sleeping in this image?"},
        {"id": 1007, "image": "AMBER_3.jpg", "query": "Are there two cups in this image?"},
        {"id": 1008, "image": "AMBER_3.jpg", "query": "Is the cup on the table?"},
    ]
    annotations = [
        {"id": 1, "image": "AMBER_1.jpg", "type": "generative", "truth": ["dog", "grass"], "hallu": ["frisbee", "ball"]},
        {"id": 2, "image": "AMBER_2.jpg", "type": "generative", "truth": ["cat", "sofa"], "hallu": ["dog"]},
        {"id": 1005, "type": "discriminative-hallucination", "truth": "yes"},
        {"id": 1006, "type": "discriminative-attribute-action", "truth": "no"},
        {"id": 1007, "type": "discriminative-attribute-number", "truth": "no"},
        {"id": 1008, "type": "discriminative-relation", "truth": "yes"},
    ]
    association = {"dog": ["puppy"], "grass": ["lawn"], "frisbee": ["disc"], "ball": [], "cat": ["kitten"],
                   "sofa": ["couch"], "tree": [], "sky": [], "table": []}
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "data" / "safe_words.txt").write_text("sky\n", encoding="utf-8")
    return {
        "benchmark": "amber",
        "query_file": str(_json(root / "data" / "query" / "query_all.json", queries)),
        "annotation_file": str(_json(root / "data" / "annotations.json", annotations)),
        "word_association": str(_json(root / "data" / "relation.json", association)),
        "safe_words": str(root / "data" / "safe_words.txt"),
        "media_root": str(root / "image"),
    }


def amber_awkward(root: Path) -> dict:
    """:func:`amber` with a vocabulary that holds a verb (``sailing``) and a two-word entry (``hot
    dog``), and boat among image 1's likely hallucinations."""
    values = amber(root)
    association = {"dog": ["puppy"], "grass": ["lawn"], "frisbee": ["disc"], "boat": ["sailing", "sailboat"],
                   "cat": ["kitten"], "sofa": ["couch"], "tree": [], "sky": [], "hot dog": []}
    annotations = json.loads(Path(values["annotation_file"]).read_text())
    annotations[0]["hallu"] = ["frisbee", "boat"]
    _json(Path(values["word_association"]), association)
    _json(Path(values["annotation_file"]), annotations)
    return values


def mme(root: Path) -> dict:
    """existence and count with images beside their question files; color in the images/ +
    questions_answers_YN/ layout."""
    base = root / "MME_Benchmark_release_version"
    for subtask, stems in (("existence", ["000000006040", "000000018150"]), ("count", ["000000041180"])):
        for i, stem in enumerate(stems):
            _image(base / subtask / f"{stem}.jpg", i)
            (base / subtask / f"{stem}.txt").write_text(
                "Is there a dog in this image? Please answer yes or no.\tYes\n"
                "Is there a train in this image? Please answer yes or no.\tNo\n", encoding="utf-8")
    _image(base / "color" / "images" / "000000012120.png", 3)
    (base / "color" / "questions_answers_YN").mkdir(parents=True)
    (base / "color" / "questions_answers_YN" / "000000012120.txt").write_text(
        "Is the car red? Please answer yes or no.\tYes\nIs the car blue? Please answer yes or no.\tNo\n", encoding="utf-8")
    return {"benchmark": "mme", "mme_root": str(base), "subtasks": "[existence,count,color]"}


def mmhal(root: Path) -> dict:
    rows = []
    for i, kind in enumerate(["attribute", "counting", "attribute"]):
        _image(root / "images" / f"img{i}.jpg", i)
        rows.append({"question_type": kind, "question_topic": "animal", "image_id": f"img{i}",
                     "image_src": f"https://example.org/x/img{i}.jpg", "image_content": ["dog", "grass"],
                     "question": "What is in the image?", "gt_answer": "A dog on the grass.", "model_answer": ""})
    return {"benchmark": "mmhal", "annotation": str(_json(root / "response_template.json", rows)),
            "media_root": str(root / "images")}


# ----------------------------------------------------------------------------------------- videos
def tvbench(root: Path) -> dict:
    _video(root / "video" / "action_count" / "video_1.mp4", 1)
    _video(root / "video" / "object_shuffle" / "video_2.mp4", 2)
    _json(root / "json" / "action_count.json", [
        {"video": "video_1.mp4", "question": "How many times did the person jump?", "candidates": ["2", "3", "4"], "answer": "3"},
        {"video": "video_1.mp4", "question": "How many times did the ball bounce?", "candidates": ["1", "5"], "answer": "1"},
    ])
    _json(root / "json" / "object_shuffle.json", [
        {"video": "video_2.mp4", "question": "Where is the ball at the end?", "candidates": ["left", "middle", "right"], "answer": "right"},
    ])
    return {"benchmark": "tvbench", "annotation": str(root / "json"), "media_root": str(root / "video")}


def mvbench(root: Path) -> dict:
    """A segment task whose videos live in a source-dataset folder (video_dirs), and a frame-folder task."""
    _video(root / "video" / "star" / "Charades_v1_480" / "A1.mp4", 3)
    for i in range(6):
        _image(root / "video" / "tvqa" / "frames_fps3_hq" / "clip_1" / f"{i + 1:05d}.jpg", i)
    _json(root / "json" / "action_sequence.json", [
        {"video": "A1.mp4", "question": "What did the person do first?", "candidates": ["Sat down.", "Opened the door."],
         "answer": "Opened the door.", "start": 0.25, "end": 1.5},
    ])
    _json(root / "json" / "episodic_reasoning.json", [
        {"video": "clip_1", "question": "Who speaks first?", "candidates": ["Ross", "Monica", "Joey"], "answer": "Monica",
         "start": 0.0, "end": 1.0},
    ])
    return {"benchmark": "mvbench", "annotation": str(root / "json"), "media_root": str(root / "video"),
            "video_dirs.action_sequence": "star/Charades_v1_480", "video_dirs.episodic_reasoning": "tvqa/frames_fps3_hq"}


def mlvu(root: Path) -> dict:
    """MLVU's release layout: ``json/`` holds the seven multiple-choice tasks and the two generation
    tasks (no candidates); videos in ``video/<task file stem>/``."""
    _video(root / "video" / "1_plotQA" / "movie_1.mp4", 4)
    _video(root / "video" / "2_needle" / "needle_1.mp4", 5)
    _json(root / "json" / "1_plotQA.json", [
        {"video": "movie_1.mp4", "duration": 2, "question": "What colour is the car?", "candidates": ["red", "blue", "green", "white"],
         "answer": "green", "question_type": "plotQA"},
    ])
    _json(root / "json" / "2_needle.json", [
        {"video": "needle_1.mp4", "duration": 2, "question": "What does the inserted clip show?",
         "candidates": ["a cat", "a boat", "a clock", "a tree"], "answer": "a boat", "question_type": "findNeedle"},
        {"video": "needle_1.mp4", "duration": 2, "question": "What colour is the boat?",
         "candidates": ["red", "blue", "green", "white"], "answer": "white", "question_type": "findNeedle"},
    ])
    _json(root / "json" / "8_sub_scene.json", [
        {"video": "movie_1.mp4", "duration": 2, "question": "Describe the scene.", "answer": "A car drives.",
         "question_type": "subPlot", "scoring_points": ["a car"]},
    ])
    _json(root / "json" / "9_summary.json", [
        {"video": "movie_1.mp4", "duration": 2, "question": "Summarise the video.", "answer": "A car.", "question_type": "summary"},
    ])
    return {"benchmark": "mlvu", "annotation": str(root / "json"), "media_root": str(root / "video")}


def videomme(root: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _video(root / "data" / "fFjv93ACGo8.mp4", 5)
    rows = [
        {"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
         "url": "https://example.org", "videoID": "fFjv93ACGo8", "question_id": "001-1", "task_type": "Counting Problem",
         "question": "How many people appear?", "options": ["A. One.", "B. Two.", "C. Three.", "D. Four."], "answer": "C"},
        {"video_id": "001", "duration": "short", "domain": "Knowledge", "sub_category": "Humanity & History",
         "url": "https://example.org", "videoID": "fFjv93ACGo8", "question_id": "001-2", "task_type": "Object Recognition",
         "question": "What is on the table?", "options": ["A. A cup.", "B. A book.", "C. A phone.", "D. A lamp."], "answer": "A"},
    ]
    path = root / "videomme" / "test-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return {"benchmark": "videomme", "annotation": str(path), "media_root": str(root / "data")}


def longvideobench(root: Path) -> dict:
    _video(root / "videos" / "86CxyhFV9MI.mp4", 6)
    rows = [{"video_id": "86CxyhFV9MI", "question": "What does the man hold?", "question_wo_referring_query": "What does he hold?",
             "candidates": ["a pen", "a cup", "a hat"], "correct_choice": 1, "position": [1], "topic_category": "NP-News",
             "question_category": "TOS", "level": "L2", "id": "86CxyhFV9MI_0", "video_path": "86CxyhFV9MI.mp4",
             "subtitle_path": "86CxyhFV9MI_en.json", "duration_group": 15, "starting_timestamp_for_subtitles": 0,
             "duration": 2.0, "view_count": 1}]
    return {"benchmark": "longvideobench", "annotation": str(_json(root / "lvb_val.json", rows)), "media_root": str(root / "videos")}


def tempcompass(root: Path) -> dict:
    _video(root / "videos" / "1034419625.mp4", 7)
    data = {"1034419625": {
        "action": [{"question": "What is the man doing in the video?\nA. dunking a basketball\nB. dribbling a basketball\nC. passing a basketball",
                    "answer": "A. dunking a basketball"}],
        "direction": [{"question": "Which way is the man moving?\nA. towards the camera\nB. from left to right",
                       "answer": "B. from left to right"}],
    }}
    return {"benchmark": "tempcompass", "annotation": str(_json(root / "questions" / "multi-choice.json", data)),
            "media_root": str(root / "videos")}


def vidhalluc(root: Path) -> dict:
    _video(root / "ACH_videos" / "clip_a.mp4", 8)
    _video(root / "ACH_videos" / "clip_b.mp4", 9)
    data = {"0": {
        "clip_a": {"Question": "Which actions are shown?", "Choices": {"A": "jumping", "B": "running", "C": "waving", "D": "sitting"},
                   "Correct Answer": "AC"},
        "clip_b": {"Question": "Which action is shown?", "Choices": {"A": "jumping", "B": "running", "C": "waving", "D": "sitting"},
                   "Correct Answer": "B"},
    }}
    return {"benchmark": "vidhalluc", "annotation": str(_json(root / "ach_mcq.json", data)), "media_root": str(root / "ACH_videos")}


def videohallucer(root: Path) -> dict:
    base = root / "videohallucer_datasets"
    for kind, seed in (("object_relation", 10), ("temporal", 11)):
        _video(base / kind / "videos" / f"{kind}.mp4", seed)
        _json(base / kind / f"{kind}.json", [
            {"basic": {"video": f"{kind}.mp4", "question": "Is there a dog?", "answer": "yes"},
             "hallucination": {"video": f"{kind}.mp4", "question": "Is there a cat?", "answer": "no"}, "type": kind},
            {"basic": {"video": f"{kind}.mp4", "question": "Does the dog run?", "answer": "yes"},
             "hallucination": {"video": f"{kind}.mp4", "question": "Does the dog fly?", "answer": "no"}, "type": kind},
        ])
    return {"benchmark": "videohallucer", "annotation": str(base), "types": "[object_relation,temporal]"}


def vcrbench(root: Path) -> dict:
    _video(root / "videos" / "video_1.mp4", 12)
    _video(root / "videos" / "video_2.mp4", 13)
    data = [{"qid": "1", "goal": "Make Banana Ice Cream", "video_file": "video_1.mp4", "ground_truth": [0, 1, 3, 2]},
            {"qid": "2", "goal": "Change a Tire", "video_file": "video_2.mp4", "ground_truth": [2, 0, 1]}]
    return {"benchmark": "vcrbench", "annotation": str(_json(root / "data.json", data))}


IMAGE_BENCHMARKS = {"chair": coco, "pope": pope, "amber": amber, "mme": mme, "mmhal": mmhal}
VIDEO_BENCHMARKS = {
    "tvbench": tvbench, "mvbench": mvbench, "mlvu": mlvu, "videomme": videomme, "longvideobench": longvideobench,
    "tempcompass": tempcompass, "vidhalluc": vidhalluc, "videohallucer": videohallucer, "vcrbench": vcrbench,
}


def args(values: dict) -> list[str]:
    return [f"{k}={v}" for k, v in values.items()]
