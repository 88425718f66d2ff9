"""``accelerate launch -m mmalign.train recipe=NAME [key=value ...]`` (or ``python -m``).

Loads the recipe, reads and checks every pair before any step, trains with the method's trainer,
saves the adapter (and a model card), and optionally merges and pushes it to the Hub.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from transformers import set_seed

from .builtin import resolve_builtins
from .cli import run_cli
from .config import TrainSetup, list_recipes, load_config
from .data.dataset import (
    MediaOptions,
    PairDataset,
    PreferenceCollator,
    validate_dataset,
)
from .data.readers import read_conversations, read_pairs
from .errors import MMAlignError
from .hub import finish_run
from .models import frozen_reference, load_model, load_processor
from .trainers import METHODS

logger = logging.getLogger("mmalign")

USAGE = """usage: [accelerate launch] python -m mmalign.train recipe=NAME [key=value ...]

Aligns a vision-language model with DPA, RRPO, DPO or TDPO. `recipe=` takes a recipe name or a
YAML path; any key of the recipe (or of transformers' TrainingArguments) can be overridden:
  python -m mmalign.train recipe=tiny output_dir=runs/tiny max_steps=10
  accelerate launch -m mmalign.train recipe=halva_llava7b alpha=0.5 learning_rate=5e-6

recipes: {recipes}
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE.format(recipes=", ".join(list_recipes())))
        return 0
    return run_cli("mmalign.train", lambda args: run(load_config(args)), argv)


def run(setup: TrainSetup) -> Any:
    """Train as configured; returns the trainer (tests inspect its state)."""
    resolve_builtins(setup)
    _, trainer_cls, _ = METHODS[setup.run.method]
    data, args = setup.data, setup.training
    if not data.train_file:
        raise MMAlignError("no training data given: set train_file=PATH")
    # The Trainer would push at every save; the finished adapter is pushed once, with its card.
    push_to_hub, args.push_to_hub = args.push_to_hub, False
    if push_to_hub and not args.hub_model_id:
        raise MMAlignError("push_to_hub=true needs hub_model_id=USER/NAME")

    processor = load_processor(setup.model)
    pairs = read_pairs(data.train_file, data.format)
    if data.max_samples:
        pairs = pairs[: data.max_samples]
    references = None
    if data.ref_file and trainer_cls.uses_reference_samples:
        references = read_conversations(data.ref_file, data.ref_format)
    media = MediaOptions(data.media_root, data.num_frames, data.fps)
    dataset = PairDataset(pairs, references, media, seed=args.seed)
    collator = PreferenceCollator(processor, max_length=args.max_length)
    if setup.run.validate_data:
        longest = validate_dataset(dataset, collator, require_phrases=setup.run.method in ("dpa", "rrpo", "rrpo_nokl"))
        logger.info("checked %d pairs; longest sample %d tokens", len(dataset), longest)

    set_seed(args.seed)  # the adapter's initialisation must not depend on earlier random draws
    model = load_model(setup.model, bf16=args.bf16, fp16=args.fp16)
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        ref_model=frozen_reference(model),
        data_collator=collator,
    )
    resume = args.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() in ("true", "last"):
        resume = True
    trainer.train(resume_from_checkpoint=resume)
    finish_run(trainer, setup, push_to_hub)
    return trainer


if __name__ == "__main__":
    sys.exit(main())
