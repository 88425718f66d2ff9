"""Vision-tower sizes and image-processor choice shared by the tiny model families
(:mod:`.families`, :mod:`.more_families`)."""

from __future__ import annotations

from typing import Any

_IMG = 32  # CLIP / SigLIP tower input size
_PATCH = 8  # CLIP / SigLIP patch size -> (32 / 8)^2 = 16 patches


def _image_processor(name: str, **kwargs: Any) -> Any:
    """The torchvision-backed image processor ``name`` where torchvision is installed, else its
    PIL twin ``<name>Pil`` (transformers 5 ships both; ``AutoProcessor`` picks the same way)."""
    import transformers
    from transformers.utils import is_torchvision_available

    return getattr(transformers, name if is_torchvision_available() else name + "Pil")(**kwargs)


def _require_torchvision(family: str) -> None:
    from transformers.utils import is_torchvision_available

    if not is_torchvision_available():
        raise ImportError(
            f"the tiny {family!r} model needs torchvision: transformers' video processors are "
            "torchvision-only (install torch and torchvision as a matching pair, see DESIGN.md §7)"
        )
