"""After training: save the adapter and processor, write a model card, merge, push to the Hub."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, ModelCard, ModelCardData

from . import __version__
from .errors import ConfigError

logger = logging.getLogger(__name__)

PAPERS = {
    "dpa": ("DPA (HALVA)", "https://arxiv.org/abs/2405.18654"),
    "rrpo": ("RRPO", "https://arxiv.org/abs/2504.12083"),
    "rrpo_seqreward": ("RRPO, sequence-level reward ablation", "https://arxiv.org/abs/2504.12083"),
    "rrpo_nokl": ("RRPO, no token-wise KL ablation", "https://arxiv.org/abs/2504.12083"),
    "dpo": ("DPO", "https://arxiv.org/abs/2305.18290"),
    "tdpo": ("TDPO", "https://arxiv.org/abs/2404.11999"),
}
HYPERPARAMETERS = (
    "alpha", "beta", "reward_level", "variant", "learning_rate", "num_train_epochs", "max_steps",
    "per_device_train_batch_size", "gradient_accumulation_steps", "lr_scheduler_type", "warmup_ratio",
    "weight_decay", "max_length", "seed", "bf16",
)  # fmt: skip


def final_metrics(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """The last logged value of every metric (train summary included)."""
    metrics: dict[str, float] = {}
    for entry in log_history:
        metrics.update({k: v for k, v in entry.items() if isinstance(v, (int, float)) and k != "step"})
    return metrics


def build_model_card(setup: Any, metrics: dict[str, float], is_adapter: bool) -> ModelCard:
    method = setup.run.method
    name, paper = PAPERS[method]
    args = setup.training
    hyper = {k: getattr(args, k) for k in HYPERPARAMETERS if hasattr(args, k)}
    if is_adapter:
        hyper.update(lora_r=setup.model.lora_r, lora_alpha=setup.model.lora_alpha, lora_dropout=setup.model.lora_dropout)
    data = {"train_file": setup.data.train_file, "ref_file": setup.data.ref_file, "format": setup.data.format}
    card_data = ModelCardData(
        base_model=setup.model.model,
        library_name="peft" if is_adapter else "transformers",
        pipeline_tag="image-text-to-text",
        tags=["mmalign", method, "preference-alignment", "vision-language"] + (["lora"] if is_adapter else []),
    )
    repo = args.hub_model_id or Path(args.output_dir).name
    load = (
        "from peft import PeftModel\n"
        "from transformers import AutoModelForImageTextToText, AutoProcessor\n\n"
        f'base = AutoModelForImageTextToText.from_pretrained("{setup.model.model}")\n'
        f'model = PeftModel.from_pretrained(base, "{repo}")\n'
        f'processor = AutoProcessor.from_pretrained("{repo}")\n'
        if is_adapter
        else "from transformers import AutoModelForImageTextToText, AutoProcessor\n\n"
        f'model = AutoModelForImageTextToText.from_pretrained("{repo}")\n'
        f'processor = AutoProcessor.from_pretrained("{repo}")\n'
    )
    body = "\n".join(
        [
            f"# {repo}",
            "",
            f"`{setup.model.model}` aligned with **{name}** ({paper}) using mmalign {__version__}"
            + (" as a LoRA adapter." if is_adapter else "."),
            "",
            "## How to load",
            "",
            "```python",
            load.rstrip(),
            "```",
            "",
            "## Training",
            "",
            f"- method: `{method}`",
            f"- data: `{json.dumps(data)}`",
            f"- hyperparameters: `{json.dumps(hyper, default=str)}`",
            "",
            "## Final metrics",
            "",
            "| metric | value |",
            "|---|---|",
            *[f"| {k} | {v:.6g} |" for k, v in sorted(metrics.items())],
            "",
        ]
    )
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")


def finish_run(trainer: Any, setup: Any, push_to_hub: bool = False, token: str | None = None) -> Path:
    """Save the final adapter/model, its processor and card; merge and push when asked (with
    ``token``, kept out of the saved arguments)."""
    args = setup.training
    output_dir = Path(args.output_dir)
    trainer.save_model(str(output_dir))
    if not trainer.is_world_process_zero():
        return output_dir
    model = trainer.accelerator.unwrap_model(trainer.model)
    is_adapter = hasattr(model, "peft_config")
    card = build_model_card(setup, final_metrics(trainer.state.log_history), is_adapter)
    card.save(output_dir / "README.md")
    logger.info("%s saved to %s", "adapter" if is_adapter else "model", output_dir)
    if setup.run.save_merged and is_adapter:
        merged_dir = output_dir / "merged"
        # In place: training is over and the adapter is already saved.
        model.merge_and_unload().save_pretrained(merged_dir)
        trainer.processing_class.save_pretrained(merged_dir)
        logger.info("merged weights written to %s", merged_dir)
    if push_to_hub:
        push_folder(output_dir, args.hub_model_id, private=args.hub_private_repo, token=token)
    return output_dir


def push_folder(folder: Path, repo_id: str | None, private: bool | None = None, token: str | None = None) -> str:
    if not repo_id:
        raise ConfigError("push_to_hub=true needs hub_model_id=USER/NAME")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="Upload model trained with mmalign")
    logger.info("pushed %s to https://huggingface.co/%s", folder, repo_id)
    return repo_id
