"""Training dataset and collator: pairs (plus DPA reference samples) → model batches.

Media are loaded in ``__getitem__`` (so DataLoader workers do it in parallel); the collator renders
chats and calls the model's processor once per batch, which lets every processor batch its own
pixel tensors the way its model expects.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..errors import DataError
from .encoding import Sequence, encode, render_chat
from .media import expand_to_square, load_image, load_video, resolve_media_path
from .records import Conversation, PairRecord
from .sampling import reference_assignment


@dataclass
class MediaOptions:
    """Where media live and how videos are sampled (``num_frames`` by ``frame_sampling``, or at ``fps``)."""

    media_root: str | None = None
    num_frames: int | None = 16
    fps: float | None = None
    frame_sampling: str = "linspace"


def load_media(images: list[Any], video: str | None, options: MediaOptions, record_id: str, source: str):
    """Load a record's images (paths or PIL images) and video; errors name the record."""
    loaded = []
    for image in images:
        if isinstance(image, (str, Path)):
            path = resolve_media_path(image, options.media_root, source=source, record_id=record_id)
            image = load_image(path, source=source, record_id=record_id)
        loaded.append(image)
    clip = None
    if video is not None:
        path = resolve_media_path(video, options.media_root, source=source, record_id=record_id)
        num_frames = None if options.fps else options.num_frames
        clip = load_video(
            path,
            num_frames=num_frames,
            fps=options.fps,
            frame_sampling=options.frame_sampling,
            source=source,
            record_id=record_id,
        )
    return loaded, clip


class PairDataset(torch.utils.data.Dataset):
    """Pairs, each with its media loaded, and (DPA) a reference sample of its own per pair.

    The reference sample of pair ``i`` is fixed by ``seed`` before training (a permutation of the
    reference set, see :func:`mmalign.data.sampling.reference_assignment`), so a resumed run sees
    the same pairing as an uninterrupted one.
    """

    def __init__(
        self,
        pairs: SequenceABC[PairRecord],
        references: SequenceABC[Conversation] | None = None,
        media: MediaOptions | None = None,
        seed: int = 0,
    ):
        self.pairs = list(pairs)
        self.references = list(references) if references else []
        self.media = media or MediaOptions()
        self.reference_index = reference_assignment(len(self.pairs), len(self.references), seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        pair = self.pairs[index]
        images, video = load_media(pair.images, pair.video, self.media, pair.id, pair.source)
        item: dict[str, Any] = {"pair": pair, "images": images, "video": video}
        if self.references:
            ref = self.references[self.reference_index[index]]
            ref_images, ref_video = load_media(ref.images, ref.video, self.media, ref.id, ref.source)
            item.update(reference=ref, reference_images=ref_images, reference_video=ref_video)
        return item


@dataclass
class PreferenceCollator:
    """Builds ``{"pair": ..., "reference": ...}`` batches.

    ``pair`` holds 2B rows, the B chosen responses then the B rejected ones, each with its
    ``response_mask`` and ``phrase_ids`` (see :func:`mmalign.data.encoding.encode`); ``reference``
    holds the B reference samples when the dataset has them.

    ``system_prompt`` opens every conversation (pairs and reference samples alike).
    ``pad_to_square`` pads each image to a square with the image processor's mean colour before
    it is processed, as LLaVA-1.5 was trained (``image_aspect_ratio=pad``): through the image
    processor's own option where it has one, else here.
    """

    processor: Any
    max_length: int | None = None
    processor_kwargs: dict = field(default_factory=dict)
    system_prompt: str | None = None
    pad_to_square: bool = False

    def __post_init__(self):
        self.processor_kwargs = dict(self.processor_kwargs)
        self._pad_colour = None
        if self.pad_to_square:
            image_processor = getattr(self.processor, "image_processor", None)
            if image_processor is None:
                raise ValueError("pad_to_square needs a processor with an image processor")
            if hasattr(image_processor, "pad_to_square") and hasattr(image_processor, "do_pad"):
                self.processor_kwargs.setdefault("do_pad", True)  # LlavaImageProcessor pads with its mean colour
            else:
                mean = getattr(image_processor, "image_mean", None) or (0.0, 0.0, 0.0)
                self._pad_colour = tuple(int(x * 255) for x in mean)

    def _turns(self, turns: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return ([("system", self.system_prompt)] if self.system_prompt else []) + list(turns)

    def _images(self, images: list[Any]) -> list[Any]:
        if self._pad_colour is None:
            return images
        return [expand_to_square(image, self._pad_colour) for image in images]

    def pair_sequences(self, item: dict[str, Any]) -> tuple[Sequence, Sequence]:
        pair: PairRecord = item["pair"]
        images = self._images(item["images"])
        out = []
        for response, spans in ((pair.chosen, pair.chosen_spans), (pair.rejected, pair.rejected_spans)):
            text, scored, starts = render_chat(
                self.processor,
                self._turns([("user", pair.prompt), ("assistant", response)]),
                num_images=len(images),
                has_video=item["video"] is not None,
                record_id=pair.id,
                source=pair.source,
            )
            phrases = [(starts[0] + s, starts[0] + e) for s, e in spans]
            out.append(Sequence(text, scored, phrases, images, item["video"], pair.id, pair.source))
        return out[0], out[1]

    def reference_sequence(self, item: dict[str, Any]) -> Sequence:
        ref: Conversation = item["reference"]
        images = self._images(item["reference_images"])
        text, scored, _ = render_chat(
            self.processor,
            self._turns(ref.turns),
            num_images=len(images),
            has_video=item["reference_video"] is not None,
            record_id=ref.id,
            source=ref.source,
        )
        return Sequence(text, scored, [], images, item["reference_video"], ref.id, ref.source)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        sides = [self.pair_sequences(item) for item in items]
        chosen, rejected = [c for c, _ in sides], [r for _, r in sides]
        batch = {"pair": encode(self.processor, chosen + rejected, self.max_length, self.processor_kwargs)}
        if "reference" in items[0]:
            references = [self.reference_sequence(item) for item in items]
            batch["reference"] = encode(self.processor, references, self.max_length, self.processor_kwargs)
        return batch


def validate_dataset(
    dataset: PairDataset,
    collator: PreferenceCollator,
    require_phrases: bool = True,
    indices: SequenceABC[int] | None = None,
    progress: bool = True,
) -> int:
    """Load and encode every sample once, so bad input stops the run before any training step.

    Raises :class:`DataError` on the first bad record (missing or unreadable media, a sample over
    ``max_length``, a phrase that covers no token). Returns the longest sample's length in tokens.
    ``indices`` checks only those samples (one process's share when many check in parallel).
    """
    longest = 0
    indices = range(len(dataset)) if indices is None else indices
    for index in tqdm(indices, desc="checking data", unit="pair", leave=False, disable=not progress):
        pair = dataset.pairs[index]
        if require_phrases and pair.num_phrases == 0:
            raise DataError("no tagged phrases (this method aligns phrases)", source=pair.source, record_id=pair.id)
        batch = collator([dataset[index]])
        for part in batch.values():
            longest = max(longest, int(part["inputs"]["attention_mask"].sum(dim=1).max()))
    return longest
