"""A local Hugging Face model as the LLM: chats rendered with its chat template, batched greedy
(or seeded sampled) generation in a worker thread. Text-only use of a vision-language checkpoint
works too (it loads with ``AutoModelForImageTextToText`` when it is not a causal LM)."""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
)

from mmalign.errors import ConfigError
from mmalign.models import resolve_dtype

from .base import Backend, Messages, Sampling
from .batcher import MicroBatcher


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, model: str, batch_size: int = 8, dtype: str = "auto", device: str | None = None):
        super().__init__(model)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        if getattr(self.tokenizer, "chat_template", None) is None:
            processor = AutoProcessor.from_pretrained(model)
            self.tokenizer.chat_template = getattr(processor, "chat_template", None)
        if self.tokenizer.chat_template is None:
            raise ConfigError(f"the LLM {model} has no chat template")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = resolve_dtype(dtype, bf16=self.device == "cuda")
        try:
            self.lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype)
        except ValueError:  # a vision-language checkpoint: used for text only
            self.lm = AutoModelForImageTextToText.from_pretrained(model, dtype=torch_dtype)
        self.lm.to(self.device).eval()
        self.batcher = MicroBatcher(self._generate_batch, batch_size)

    async def generate(self, messages: Messages, sampling: Sampling) -> str:
        return await self.batcher.submit((messages, sampling))

    def _generate_batch(self, requests: list[tuple[Messages, Sampling]]) -> list[str]:
        replies: list[str] = [""] * len(requests)
        groups: dict[Sampling, list[int]] = {}
        for i, (_, sampling) in enumerate(requests):
            groups.setdefault(sampling, []).append(i)
        for sampling, indices in groups.items():
            texts = [
                self.tokenizer.apply_chat_template(requests[i][0], tokenize=False, add_generation_prompt=True)
                for i in indices
            ]
            bos = self.tokenizer.bos_token
            inputs = self.tokenizer(
                texts, return_tensors="pt", padding=True, padding_side="left",
                add_special_tokens=not (bos and texts[0].startswith(bos)),
            ).to(self.device)
            kwargs = {"do_sample": sampling.temperature > 0, "max_new_tokens": sampling.max_tokens,
                      "pad_token_id": self.tokenizer.pad_token_id}
            if sampling.temperature > 0:
                kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p)
                torch.manual_seed(sampling.seed or 0)
            with torch.no_grad():
                output = self.lm.generate(**inputs, **kwargs)
            new = output[:, inputs["input_ids"].shape[1] :]
            for i, text in zip(indices, self.tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                replies[i] = text.strip()
        return replies
