"""The autotag pipeline: any prompt/chosen/rejected set → tagged canonical pairs."""

from __future__ import annotations

import json

from PIL import Image

from mmalign.data_gen.config import GenConfig
from mmalign.data_gen.runner import generate
from mmalign.data.readers import read_pairs


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_pairs_are_tagged_by_a_word_diff_and_bad_ones_counted(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "cat.png")
    records = [
        {"id": "a", "prompt": "Describe.", "chosen": "A red car on a wet road.", "rejected": "A blue car on a wet road.",
         "images": ["cat.png"]},
        {"id": "b", "prompt": [{"role": "user", "content": "What is it?"}],
         "chosen": [{"role": "assistant", "content": "Two dogs play in the park."}],
         "rejected": [{"role": "assistant", "content": "Three cats play in the park."}]},
        {"id": "c", "prompt": "Describe.", "chosen": "A cat.", "rejected": "A cat."},
        {"id": "d", "prompt": "Describe.", "chosen": "Sunny beach with palm trees.", "rejected": "Snowy mountain at night."},
        {"id": "e", "prompt": "Describe.", "chosen": "A dog.", "rejected": "A dog sleeps.", "images": ["missing.png"]},
        {"id": "f", "prompt": "Describe.", "chosen": "", "rejected": "A dog."},
    ]
    source = _write(tmp_path / "prefs.jsonl", records)
    out = tmp_path / "tagged.jsonl"
    stats = generate(GenConfig(pipeline="autotag", input_file=str(source), output_file=str(out),
                               media_root=str(tmp_path), progress=False, max_diff_share=0.5))
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert pairs[0]["chosen"] == "A <MASK>red</MASK> car on a wet road."
    assert pairs[0]["rejected"] == "A <MASK>blue</MASK> car on a wet road." and pairs[0]["images"] == ["cat.png"]
    assert pairs[1]["prompt"] == "What is it?"
    assert (pairs[1]["chosen"], pairs[1]["rejected"]) == ("<MASK>Two dogs</MASK> play in the park.",
                                                         "<MASK>Three cats</MASK> play in the park.")
    assert [p["id"] for p in pairs] == ["a", "b"]
    assert dict(stats.rejected) == {"identical": 1, "too_different": 1, "unreadable_media": 1, "empty_response": 1}
    assert len(read_pairs(out)) == 2
