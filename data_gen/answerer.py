"""The model being aligned, answering questions on images or videos (RRPO's self-alignment).

Loaded the way training loads it (:func:`mmalign.models.load_processor` and
``AutoModelForImageTextToText``), without adapters; prompts go through its own chat template;
requests from concurrent items are batched (:class:`~mmalign.data_gen.backends.batcher.MicroBatcher`) and
decoded greedily, so the same input always gets the same answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers import AutoModelForImageTextToText

from mmalign.data.encoding import user_content
from mmalign.models import (
    ModelConfig,
    load_processor,
    resolve_attn_implementation,
    resolve_dtype,
)

from .backends.batcher import MicroBatcher
from .config import GenConfig


class Answerer:
    def __init__(self, config: GenConfig):
        model_config = ModelConfig(model=config.model, model_revision=config.model_revision, dtype=config.dtype,
                                   attn_implementation=config.attn_implementation,
                                   trust_remote_code=config.trust_remote_code)
        self.processor = load_processor(model_config)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = AutoModelForImageTextToText.from_pretrained(
            config.model,
            revision=config.model_revision,
            dtype=resolve_dtype(config.dtype, bf16=self.device == "cuda"),
            attn_implementation=resolve_attn_implementation(config.attn_implementation),
            trust_remote_code=config.trust_remote_code,
        ).to(self.device).eval()
        self.max_new_tokens = config.max_new_tokens
        self.batcher = MicroBatcher(self._answer_batch, config.answer_batch_size)

    async def answer(self, prompt: str, images: list[Any] = (), frames: np.ndarray | None = None) -> str:
        return await self.batcher.submit((prompt, list(images), frames))

    def _answer_batch(self, requests: list[tuple[str, list, np.ndarray | None]]) -> list[str]:
        # One processor call per media layout: same number of images, same number of frames.
        groups: dict[tuple, list[int]] = {}
        for i, (_, images, frames) in enumerate(requests):
            groups.setdefault((len(images), None if frames is None else len(frames)), []).append(i)
        answers = [""] * len(requests)
        for indices in groups.values():
            for i, text in zip(indices, self._generate([requests[i] for i in indices]), strict=True):
                answers[i] = text
        return answers

    def _generate(self, requests: list[tuple[str, list, np.ndarray | None]]) -> list[str]:
        texts, kwargs = [], {}
        for prompt, images, frames in requests:
            messages = [{"role": "user", "content": user_content(prompt, len(images), frames is not None)}]
            text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            texts.append(text if isinstance(text, str) else text[0])
        images = [image for _, imgs, _ in requests for image in imgs]
        if images:
            kwargs["images"] = images
        if requests[0][2] is not None:
            kwargs["videos"] = [frames for _, _, frames in requests]
            kwargs["do_sample_frames"] = False
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        bos = getattr(tokenizer, "bos_token", None)
        inputs = self.processor(text=texts, return_tensors="pt", padding=True, padding_side="left",
                                add_special_tokens=not (bos and texts[0].startswith(bos)), **kwargs).to(self.device)
        with torch.no_grad():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                         pad_token_id=tokenizer.pad_token_id)
        new = output[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]
