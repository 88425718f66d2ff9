"""Generation backends: answer a batch of :class:`~mmalign.eval.benchmarks.base.Item` s with text.

``transformers``: the model's own ``generate``, batched with left padding, greedy unless
``do_sample=true``; under ``accelerate launch`` every process runs its own copy on its own share of
the items (the runner does the sharding). ``vllm``: vLLM's offline engine, in one process
(``tensor_parallel_size`` spreads a large model over GPUs); used only when the package is there.

Prompts are rendered with the processor's chat template, media where the processor puts them,
exactly as training renders them (:func:`mmalign.data.encoding.user_content`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mmalign.data.encoding import user_content
from mmalign.errors import ConfigError

from .benchmarks.base import Item
from .media import load_item_media


@dataclass
class Sampling:
    """Decoding settings shared by the backends."""

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    num_beams: int = 1
    seed: int = 0


def render_prompt(processor: Any, prompt: str, num_images: int, has_video: bool) -> str:
    """The chat-formatted text of a single user turn, ending where the assistant's answer starts."""
    messages = [{"role": "user", "content": user_content(prompt, num_images, has_video)}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text if isinstance(text, str) else text[0]


def _needs_video_processor(processor: Any, items: list[Item], model: str) -> None:
    if any(item.video for item in items) and getattr(processor, "video_processor", None) is None:
        raise ConfigError(f"the processor of {model} takes no videos; use a video model for this benchmark")


class TransformersBackend:
    """Batched ``model.generate`` on one device."""

    def __init__(self, model: torch.nn.Module, processor: Any, num_frames: int | None = 16, fps: float | None = None, name: str = "model"):
        self.model, self.processor = model.eval(), processor
        self.num_frames, self.fps, self.name = num_frames, fps, name
        tokenizer = getattr(processor, "tokenizer", processor)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

    @torch.no_grad()
    def generate(self, items: list[Item], sampling: Sampling) -> list[str]:
        from mmalign.data.encoding import _add_special_tokens

        _needs_video_processor(self.processor, items, self.name)
        texts, images, clips = [], [], []
        for item in items:
            item_images, clip = load_item_media(item, self.num_frames, self.fps)
            texts.append(render_prompt(self.processor, item.prompt, len(item_images), clip is not None))
            images.append(item_images)  # one list per text, as mmalign.data.encoding.encode passes them
            if clip is not None:
                clips.append(clip)
        kwargs: dict[str, Any] = {}
        if any(images):
            kwargs["images"] = images
        if clips:
            kwargs.update(videos=[c.frames for c in clips], do_sample_frames=False, video_metadata=[c.metadata() for c in clips])
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        inputs = self.processor(
            text=texts,
            return_tensors="pt",
            padding=True,
            padding_side="left",
            add_special_tokens=_add_special_tokens(tokenizer, texts[0]),
            **kwargs,
        )
        device = next(self.model.parameters()).device
        dtype = getattr(self.model, "dtype", torch.float32)  # pixel values in the model's precision
        inputs = {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) if torch.is_tensor(v) else v
                  for k, v in inputs.items()}
        options: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens, "num_beams": sampling.num_beams}
        if sampling.do_sample:
            options.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        output = self.model.generate(**inputs, **options, pad_token_id=tokenizer.pad_token_id)
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [text.strip() for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]


class VLLMBackend:
    """vLLM's offline ``LLM.generate``; the LoRA adapter, if any, is applied per request."""

    @staticmethod
    def check_installed() -> None:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise ConfigError("backend=vllm needs the vllm package, which is not installed (pip install vllm); "
                              "or use backend=transformers")

    def __init__(self, config: Any, processor: Any):
        self.check_installed()
        from vllm import LLM

        self.processor, self.config = processor, config
        lora_kwargs: dict[str, Any] = {}
        self.lora = None
        if config.adapter:
            from vllm.lora.request import LoRARequest

            rank = json.loads((Path(config.adapter) / "adapter_config.json").read_text()).get("r", 16)
            lora_kwargs = {"enable_lora": True, "max_lora_rank": int(rank)}
            self.lora = LoRARequest("adapter", 1, str(config.adapter))
        self.llm = LLM(
            model=config.model,
            revision=config.model_revision,
            trust_remote_code=config.trust_remote_code,
            dtype="auto" if config.dtype == "auto" else config.dtype,
            seed=config.seed,
            tensor_parallel_size=config.tensor_parallel_size,
            **lora_kwargs,
        )

    def generate(self, items: list[Item], sampling: Sampling) -> list[str]:
        from vllm import SamplingParams

        _needs_video_processor(self.processor, items, self.config.model)
        requests = []
        for item in items:
            images, clip = load_item_media(item, self.config.num_frames, self.config.fps)
            data: dict[str, Any] = {}
            if images:
                data["image"] = images if len(images) > 1 else images[0]
            if clip is not None:
                data["video"] = clip.frames
            prompt = render_prompt(self.processor, item.prompt, len(images), clip is not None)
            requests.append({"prompt": prompt, "multi_modal_data": data} if data else {"prompt": prompt})
        params = SamplingParams(
            max_tokens=sampling.max_new_tokens,
            temperature=sampling.temperature if sampling.do_sample else 0.0,
            top_p=sampling.top_p if sampling.do_sample else 1.0,
            seed=sampling.seed,
        )
        outputs = self.llm.generate(requests, params, lora_request=self.lora, use_tqdm=False)
        return [out.outputs[0].text.strip() for out in outputs]
