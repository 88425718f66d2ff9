"""Video segments and frame folders, as the video benchmarks need them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mmalign.eval.media import FRAME_FOLDER_FPS, load_frame_folder
from mmalign.data.media import load_video, write_video


def _numbered_video(path, frames=20, fps=4):
    """Frame i is a flat grey of level 10·i, so a decoded frame tells its index."""
    data = np.stack([np.full((16, 16, 3), 10 * i, dtype=np.uint8) for i in range(frames)])
    return write_video(path, data, fps=fps)


def test_segment_sampling(tmp_path):
    video = _numbered_video(tmp_path / "v.mp4")  # 20 frames at 4 fps: 5 s
    clip = load_video(video, num_frames=3, start=1.0, end=2.0)
    # the segment is frames round(1.0·4) = 4 … round(2.0·4) = 8; 3 frames evenly over it: 4, 6, 8
    assert clip.frame_indices == [4, 6, 8]
    levels = clip.frames.reshape(3, -1).mean(axis=1)
    assert np.allclose(levels, [40, 60, 80], atol=6)
    whole = load_video(video, num_frames=3)
    assert whole.frame_indices == [0, 10, 19]  # linspace(0, 19, 3) rounded (numpy rounds 9.5 to 10)


def test_segment_sampling_at_a_rate(tmp_path):
    video = _numbered_video(tmp_path / "v.mp4")
    clip = load_video(video, fps=2.0, start=2.0, end=3.0)
    # ticks at 2.0, 2.5, 3.0 s: frames 8, 10, 12
    assert clip.frame_indices == [8, 10, 12]


def test_frame_folder(tmp_path):
    for i in range(12):
        Image.new("RGB", (8, 8), (10 * i, 0, 0)).save(tmp_path / f"{i + 1:05d}.jpg")
    clip = load_frame_folder(tmp_path, num_frames=3, start=1.0, end=3.0)
    # frames are 3 per second: the segment is files 3 … 9 (0-based); 3 evenly: 3, 6, 9
    assert clip.frame_indices == [3, 6, 9]
    assert clip.fps == FRAME_FOLDER_FPS and clip.frames.shape == (3, 8, 8, 3)
    assert np.allclose(clip.frames[:, 0, 0, 0], [30, 60, 90], atol=4)
