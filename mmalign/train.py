"""``accelerate launch -m mmalign.train recipe=NAME [key=value ...]`` (or ``python -m``).

Loads the recipe, reads and checks every pair before any step, trains with the method's trainer,
saves the adapter (and a model card), and optionally merges and pushes it to the Hub.

Under ``accelerate launch`` every process runs this same function: built-in assets are built by
the main process while the others wait, each process checks its own share of the pairs (the
verdict is shared, so a bad record stops every process), and only the main process logs.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any

import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from transformers import set_seed

from .builtin import resolve_builtins
from .checkpoints import resolve_resume
from .cli import run_cli
from .config import TrainSetup, list_recipes, load_config
from .data.dataset import (
    MediaOptions,
    PairDataset,
    PreferenceCollator,
    validate_dataset,
)
from .data.media import resolve_media_path
from .data.readers import read_conversations, read_pairs
from .data.sampling import balance_yes_no
from .errors import DataError, MMAlignError
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
    try:
        return run_cli("mmalign.train", lambda args: run(load_config(args)), argv)
    finally:
        # Leave the process group before the interpreter exits: torch and DeepSpeed keep threads
        # behind it whose destructors otherwise race the exit (an occasional abort on one rank).
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def run(setup: TrainSetup) -> Any:
    """Train as configured; returns the trainer (tests inspect its state)."""
    _, trainer_cls, _ = METHODS[setup.run.method]
    data, args = setup.data, setup.training
    state = process_state(args)
    # The Trainer would push at every save; the finished adapter is pushed once, with its card.
    push_to_hub, args.push_to_hub = args.push_to_hub, False
    # The Trainer pickles its arguments into the output and every checkpoint (training_args.bin):
    # the token must not travel with them.
    hub_token, args.hub_token = args.hub_token, None
    if push_to_hub and not args.hub_model_id:
        raise MMAlignError("push_to_hub=true needs hub_model_id=USER/NAME")
    base_model = setup.model.model
    # The main process builds tiny:// and world:// assets first; the others then find them in the
    # cache (or, on a node that does not share the file system, build their own: builds are atomic).
    with state.main_process_first(), zero3_paused():
        world = resolve_builtins(setup)
    if not data.train_file:
        raise MMAlignError("no training data given: set train_file=PATH")
    if world is not None and args.use_cpu:
        # The world's model is tiny: one thread is fastest, and stays fast on a busy machine,
        # where more threads wait on each other.
        torch.set_num_threads(1)

    args.apply_global_batch_size(state.num_processes)
    logger.info("%s; method %s; %s", args.effective_batch(state.num_processes), setup.run.method, settings_line(setup))

    processor = load_processor(setup.model)
    pairs = anchor_media(read_pairs(data.train_file, data.format), setup.media_roots.get(data.train_file))
    if data.balance_yes_no:
        pairs, counts = balance_yes_no(pairs, args.seed)
        logger.info("balance_yes_no: %d yes and %d no pairs kept, %d dropped", counts["yes"], counts["no"], counts["dropped"])
    if data.max_samples:
        pairs = pairs[: data.max_samples]
    references = None
    if data.ref_file and trainer_cls.uses_reference_samples:
        references = anchor_media(read_conversations(data.ref_file, data.ref_format), setup.media_roots.get(data.ref_file))
    media = MediaOptions(data.media_root, data.num_frames, data.fps, data.frame_sampling)
    dataset = PairDataset(pairs, references, media, seed=args.seed)
    collator = PreferenceCollator(
        processor, max_length=args.max_length, system_prompt=data.system_prompt, pad_to_square=data.pad_to_square
    )
    longest = None
    if setup.run.validate_data:
        require = setup.run.method in ("dpa", "rrpo", "rrpo_nokl")
        longest = check_data(dataset, collator, require, state)
        logger.info("checked %d pairs; longest sample %d tokens", len(dataset), longest)
    resume = resolve_resume(args.resume_from_checkpoint, args.output_dir)  # before the model loads

    set_seed(args.seed)
    # The adapter is seeded again right before it is created, so it does not depend on how the
    # base was loaded (ZeRO-3's zero.Init and quantisation draw different amounts of randomness).
    model = load_model(setup.model, bf16=args.bf16, fp16=args.fp16, seed=args.seed)
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        ref_model=frozen_reference(model, setup.model, bf16=args.bf16, fp16=args.fp16),
        data_collator=collator,
        longest_sample=longest,
    )
    trainer.train(resume_from_checkpoint=resume)
    output_dir = finish_run(trainer, setup, push_to_hub, hub_token)
    if setup.run.compare_on_world:
        if world is None or not str(base_model).startswith("world://"):
            logger.info("compare_on_world: the model is not the world's base (model=world://base); no comparison")
        else:  # every process takes a share of the scenes, once the main one has saved the model
            from .world.comparison import compare_on_world

            state.wait_for_everyone()
            if getattr(world, "world", "image") == "video":
                from .world.video_comparison import compare_on_video_world as compare_on_world
            compare_on_world(world, setup.model.model, output_dir, setup.run.method, setup.run.world_eval_samples)
    return trainer


def anchor_media(records: list, root: str | None) -> list:
    """Give the records of a built-in file absolute media paths under ``root``, its own folder
    (no change for other files, whose media follow ``media_root``)."""
    if root is None:
        return records
    for record in records:
        record.images = [str(resolve_media_path(i, root)) if isinstance(i, str) else i for i in record.images]
        if record.video is not None:
            record.video = str(resolve_media_path(record.video, root))
    return records


#: training settings named in the start-up line, when the method has them
_SETTINGS = ("alpha", "beta", "gamma", "phrase_reduction", "reward_level", "variant", "learning_rate",
             "lr_scheduler_type", "num_train_epochs", "max_length", "disable_dropout")


def settings_line(setup: TrainSetup) -> str:
    """The settings that decide what a run computes, in one line (printed at start)."""
    training, model, data = setup.training, setup.model, setup.data
    values = {name: getattr(training, name) for name in _SETTINGS if hasattr(training, name)}
    parts = [f"{name}={getattr(value, 'value', value)}" for name, value in values.items()]  # enums by value
    if model.use_peft:
        parts.append(f"lora r={model.lora_r} alpha={model.lora_alpha} dropout={model.lora_dropout}")
    parts.append("precision=" + ("bf16" if training.bf16 else "fp16" if training.fp16 else "fp32"))
    if data.system_prompt:
        parts.append("system prompt set")
    if data.pad_to_square:
        parts.append("images padded to square")
    return ", ".join(parts)


def process_state(args: Any) -> PartialState:
    """This process's place among the launched ones (starting the process group the way the Trainer
    will); processes other than the main one log warnings only."""
    args.device  # noqa: B018 — sets up accelerate's state (DDP, DeepSpeed, or one process) from args
    state = args.distributed_state or PartialState()
    if not state.is_main_process:
        logger.setLevel(logging.WARNING)
    return state


@contextlib.contextmanager
def zero3_paused():
    """Switch transformers' ZeRO-3 mode off for a while (building the ``tiny://`` model on one process).

    While a ZeRO-3 config is live, transformers initialises every new model's weights with
    collective operations; a model built by one process while the others wait would never finish.
    """
    from transformers.integrations import deepspeed as hf_deepspeed

    reference = hf_deepspeed._hf_deepspeed_config_weak_ref  # the only handle transformers keeps
    config = reference() if reference is not None else None
    if config is None:
        yield
        return
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed.set_hf_deepspeed_config(config)


def check_data(dataset: PairDataset, collator: PreferenceCollator, require_phrases: bool, state: PartialState) -> int:
    """Check every pair once across processes: process k checks pairs k, k + n, k + 2n, …

    Checking loads and encodes every sample (media included), which for a real data set takes
    minutes, so it is shared out instead of repeated on every process. The processes then exchange
    their verdicts: if any found a bad record, all raise the same one-line error (the lowest-ranked
    process's, which for one process is the first bad record) instead of some of them training on.
    Returns the longest sample's length in tokens.
    """
    shard = range(state.process_index, len(dataset), state.num_processes)
    error: DataError | None = None
    longest = 0
    try:
        longest = validate_dataset(dataset, collator, require_phrases, indices=shard, progress=state.is_main_process)
    except DataError as err:
        error = err
    if state.num_processes == 1:
        if error is not None:
            raise error
        return longest
    verdicts = gather_object([(str(error) if error else None, longest)])
    messages = [message for message, _ in verdicts if message]
    if messages:
        raise error if error is not None and str(error) == messages[0] else DataError(messages[0])
    return max(length for _, length in verdicts)


if __name__ == "__main__":
    sys.exit(main())
