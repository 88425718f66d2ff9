"""Tiny, randomly initialised but fully real Hugging Face vision-language models, built offline.

The test suite and the CPU demo recipe need real models that go through the real loading path
(``AutoModelForImageTextToText.from_pretrained`` / ``AutoProcessor.from_pretrained``) without any
download. This package trains a small tokenizer on the fly with the ``tokenizers`` library, builds
a model of the requested family from a tiny config, and saves model + processor with
``save_pretrained`` (see DESIGN.md §7).

Modules: :mod:`.tokenizer` (``train_tokenizer``), :mod:`.templates` (the families' chat templates
and special tokens), :mod:`.families` (``build_tiny_vlm`` and the families ``"llava"``,
``"qwen2_vl"``, ``"llava_onevision"``), :mod:`.more_families` (``"qwen2_5_vl"``, ``"qwen3_vl"``,
``"gemma3"``, ``"smolvlm"``, ``"internvl"``, ``"llava_next"``, ``"llava_next_video"``,
``"mistral3"``), :mod:`.media` (``make_image``, ``write_video``, ``read_video``: deterministic
test pictures and videos).

Calling the processors (what was checked with transformers 5.24):

* images: ``processor(text=[...], images=[[img, ...], ...], return_tensors="pt", padding=True)``,
  one list of images per text (Gemma 3's and SmolVLM's processors need it; the others also accept
  a flat list); the number of image placeholders in a text must equal its number of images. The
  placeholders are expanded by the processor, so a rendered chat template holds exactly one per
  image.
* videos (``qwen2_vl``, ``qwen2_5_vl``, ``qwen3_vl``, ``llava_onevision``, ``smolvlm``,
  ``internvl``, ``llava_next_video``): pass already-decoded frames, one entry per video, as a
  uint8 array ``(T, H, W, 3)`` or a list of PIL images, with ``do_sample_frames=False`` so that
  the frames given are used as they are (Qwen3-VL's and SmolVLM's processors sample by default),
  e.g. ``processor(text=[...], videos=[read_video(path)], do_sample_frames=False,
  return_tensors="pt")``. Qwen3-VL and SmolVLM write each frame's time into the prompt: give them
  ``video_metadata`` with ``fps`` and ``frames_indices`` (``mmalign.data.media.VideoClip.metadata()``).
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
