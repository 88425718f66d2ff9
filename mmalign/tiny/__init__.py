"""Tiny, randomly initialised but fully real Hugging Face vision-language models, built offline.

The test suite and the CPU demo recipe need real models that go through the real loading path
(``AutoModelForImageTextToText.from_pretrained`` / ``AutoProcessor.from_pretrained``) without any
download. This package trains a small tokenizer on the fly with the ``tokenizers`` library, builds
a model of the requested family from a tiny config, and saves model + processor with
``save_pretrained`` (see DESIGN.md §7).

Modules: :mod:`.tokenizer` (``train_tokenizer``), :mod:`.templates` (the families' chat templates
and special tokens), :mod:`.families` (``build_tiny_vlm`` and the three families: ``"llava"``,
``"qwen2_vl"``, ``"llava_onevision"``), :mod:`.media` (``make_image``, ``write_video``,
``read_video``: deterministic test pictures and videos).

Calling the processors (what was checked with transformers 5.23):

* images: ``processor(text=[...], images=[img, ...], return_tensors="pt", padding=True)``; the
  number of image placeholders in the texts must equal the number of images. The placeholders
  are expanded by the processor, so a rendered chat template holds exactly one per image.
* videos (``qwen2_vl``, ``llava_onevision``): pass already-decoded frames, one entry per video,
  as a uint8 array ``(T, H, W, 3)`` or a list of PIL images, e.g.
  ``processor(text=[...], videos=[read_video(path)], return_tensors="pt")``. Both video
  processors default to ``do_sample_frames=False``, so the frames given are used as they are
  and no ``video_metadata`` is needed. To let the processor sample frames instead, pass
  ``do_sample_frames=True`` with ``num_frames=...`` (or ``fps=...`` plus ``video_metadata``).
  Qwen2-VL needs the number of frames to be a multiple of ``temporal_patch_size`` (2) or it
  repeats the last frame.
* ``llava_onevision`` image batches are padded to the largest number of anyres crops; the model
  unpads using ``image_sizes`` which the processor returns; pass everything it returns.
* Qwen2-VL's processor also returns ``mm_token_type_ids``; the model accepts it.
"""

from .families import FAMILIES, build_tiny_vlm
from .media import describe_image, make_image, read_video, write_video
from .templates import _FAMILY_TOKENS, CHAT_TEMPLATES  # noqa: F401  (private; bench/gpu_smoke.py uses it)
from .tokenizer import BUILTIN_WORDS, TOKENIZER_KINDS, train_tokenizer

__all__ = [
    "BUILTIN_WORDS",
    "CHAT_TEMPLATES",
    "FAMILIES",
    "TOKENIZER_KINDS",
    "build_tiny_vlm",
    "describe_image",
    "make_image",
    "read_video",
    "train_tokenizer",
    "write_video",
]
