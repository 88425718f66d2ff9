"""Any prompt/chosen/rejected preference set → canonical pairs with phrases tagged by a word-level
diff (:func:`mmalign.data.tags.diff_spans`). A pair whose differing words cover more than
``max_diff_share`` of either response is rejected (``too_different``): phrase-level losses need
responses that differ in a few phrases. Images held in the records themselves (a ``datasets``
Image column) are written as PNG files beside the output."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from PIL import Image

from mmalign.data.readers import iter_records, pair_from_dict
from mmalign.data.tags import differing_share, tag_text
from mmalign.errors import ConfigError, DataError

from .backends import Rejected
from .pipeline import Outcome, Pipeline, WorkItem

logger = logging.getLogger("mmalign.data_gen")


class AutotagPipeline(Pipeline):
    name = "autotag"

    def plan(self) -> list[WorkItem]:
        cfg = self.config
        if not cfg.input_file:
            raise ConfigError("the autotag pipeline needs input_file=PATH (or a datasets name[:split])")
        local = Path(cfg.input_file).exists() or cfg.input_file.endswith((".json", ".jsonl"))
        name = cfg.input_file if local or ":" in cfg.input_file else f"{cfg.input_file}:{cfg.split}"
        return [WorkItem(str(raw.get("id", index)), raw, source)
                for index, (source, raw) in enumerate(iter_records(name))]

    async def process(self, item: WorkItem) -> Outcome:
        try:
            pair = pair_from_dict(item.payload, format="preference", source=item.source)
        except DataError as err:
            reason = "identical" if "identical" in str(err) else "empty_response" if "empty" in str(err) else "invalid_record"
            logger.warning("%s; skipped", err)
            raise Rejected(reason, str(err)) from None
        pair.id = item.id
        share = max(differing_share(pair.chosen, pair.chosen_spans), differing_share(pair.rejected, pair.rejected_spans))
        if share > self.config.max_diff_share:
            raise Rejected("too_different", f"{share:.0%} of the words differ")
        images = [self._image(image, item, k) for k, image in enumerate(pair.images)]
        for image in images:
            self.check_image(image, item)
        record: dict[str, Any] = {"id": item.id, "prompt": pair.prompt,
                                  "chosen": tag_text(pair.chosen, pair.chosen_spans),
                                  "rejected": tag_text(pair.rejected, pair.rejected_spans)}
        if pair.video:
            record["video"] = pair.video
        elif images:
            record["images"] = images
        record.update(kind=item.payload.get("kind") or "autotag", source=Path(self.config.input_file).name)
        return Outcome(pairs=[record])

    def _image(self, image: Any, item: WorkItem, k: int) -> str:
        """A path for an image given as a path, a PIL image or ``datasets``' ``{"bytes", "path"}``."""
        if isinstance(image, dict) and image.get("bytes"):
            image = Image.open(io.BytesIO(image["bytes"]))
        elif isinstance(image, dict):
            image = image.get("path")
        if isinstance(image, Image.Image):
            out = Path(self.config.output_file)
            path = out.with_name(out.stem + "_images") / f"{_safe(item.id)}-{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.convert("RGB").save(path)
            return str(path.resolve())
        if not isinstance(image, str):
            raise Rejected("invalid_record", f"image {k} is neither a path nor an image")
        return image


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
