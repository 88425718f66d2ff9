"""Running one evaluation: items → predictions (resumable, sharded across processes) → metrics.

Under ``accelerate launch`` every process answers its own share of the items that have no
prediction yet (taking turns: :class:`mmalign.resumable.ResumableLoop`) and appends them to its own
file; the main process then scores all of them and writes ``results.json`` / ``results.md``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from itertools import groupby
from typing import Any

import torch
from accelerate import PartialState
from transformers import set_seed

from mmalign.config import SAMPLING_BOUNDS, build_config, check_ranges, choose_frame_sampling, load_values, typed_keys
from mmalign.errors import ConfigError, DataError
from mmalign.resumable import ResumableLoop, Share, check_unique_ids

from .benchmarks import benchmark_class
from .benchmarks.base import MAX_LISTED, Benchmark, Item
from .config import EvalConfig
from .media import check_media
from .predictions import PredictionStore, check_fingerprint
from .results import flatten, fmt, markdown_table, write_results

logger = logging.getLogger("mmalign.eval")

EVAL_BOUNDS = {**SAMPLING_BOUNDS, "batch_size": (1, True, "a batch holds at least one item"),
               "num_beams": (1, True, "beam search keeps at least one beam")}


def load_eval_config(argv: list[str]) -> EvalConfig:
    """Recipe (``recipes/eval/``) + ``key=value`` overrides → the benchmark's validated config."""
    values = load_values(argv, "eval")
    choose_frame_sampling(values, typed_keys(argv))
    check_ranges(values, EVAL_BOUNDS)
    cls = benchmark_class(values.get("benchmark") or "").config_cls
    config = build_config(cls, values)
    if not config.model:
        raise ConfigError("no model given: set model=HUB_ID_OR_PATH")
    return config


def run(config: EvalConfig, backend: Any = None, judge: Any = None, show: bool = True) -> dict[str, Any]:
    """Evaluate as configured; returns the metrics (an empty dict on processes other than the main).
    ``show=False`` leaves out the printed table (callers that print their own).

    ``backend`` (an object with ``generate(items, sampling)``) and ``judge`` (a ``chat(messages) ->
    str`` callable, for LLM-judged benchmarks) replace the configured ones when given.
    """
    benchmark: Benchmark = benchmark_class(config.benchmark)(config)
    if judge is not None:
        benchmark.judge = judge
    items = benchmark.load_items()
    if config.max_samples:
        items = items[: config.max_samples]
    if not items:
        raise DataError(f"benchmark {config.benchmark!r} has no items to evaluate")
    check_unique_ids(items)
    check_media(items)

    state = process_state()
    out = config.resolved_output_dir()
    store = PredictionStore(out, state.process_index, state.num_processes)
    if config.overwrite and state.is_main_process:
        store.clear()
    state.wait_for_everyone()
    check_fingerprint(out, dataclasses.asdict(config), write=state.is_main_process)
    store.repair()
    required = "prediction" if benchmark.mode == "generate" else None
    done = store.load(required)
    answered = sum(item.id in done for item in items)
    if answered and answered < len(items):
        logger.info("resuming: %d of %d items already answered in %s", answered, len(items), out)
    share = Share(state.process_index, state.num_processes)
    with ResumableLoop(items, done, share, desc=config.benchmark, progress=state.is_local_main_process) as loop:
        if loop.todo:
            _answer(benchmark, config, state, store, loop, backend)
    state.wait_for_everyone()
    if not state.is_main_process:
        return {}

    records = store.load(required)
    missing = [item.id for item in items if item.id not in records]
    if missing:
        raise DataError(f"{len(missing)} items have no prediction in {out} (first: {missing[0]!r}); run again to finish them")
    benchmark.predictions_file = str(store.files()[0] if len(store.files()) == 1 else out / "predictions*.jsonl")
    metrics = benchmark.score(items, records, out)
    if len(benchmark.unparseable_ids) > MAX_LISTED:
        logger.warning("%s: %d more unparseable answers (their ids are in results.json)",
                       benchmark.predictions_file, len(benchmark.unparseable_ids) - MAX_LISTED)
    extra = {"num_items": len(items), "unparseable_ids": benchmark.unparseable_ids}
    path = write_results(out, config, metrics, extra)
    rows = [[name, fmt(value)] for name, value in flatten(metrics).items()]
    if show:
        print(f"\n{config.benchmark} ({config.model}{' + ' + config.adapter if config.adapter else ''})\n")
        print(markdown_table(["metric", "value"], rows))
    logger.info("results: %s", path)
    return metrics


def process_state() -> PartialState:
    """This process's place among those ``accelerate launch`` (or ``torchrun``) started.

    Without CUDA, accelerate joins the processes only when asked for CPU processes (gloo)."""
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
    state = PartialState(cpu=launched and not torch.cuda.is_available())
    if launched and state.num_processes != int(os.environ["WORLD_SIZE"]):
        raise ConfigError(f"launched as {os.environ['WORLD_SIZE']} processes, but they could not be joined")
    return state


def _answer(benchmark: Benchmark, config: EvalConfig, state: PartialState, store: PredictionStore,
            loop: ResumableLoop[Item], backend: Any) -> None:
    """Answer this process's items still to do, appending each batch's predictions as it comes."""
    items = [item for _, item in loop.todo]
    set_seed(config.seed)
    if benchmark.mode == "score":
        from .loading import load_runtime

        runtime = load_runtime(config, state.device)
        batches = [items[i : i + config.batch_size] for i in range(0, len(items), config.batch_size)]
        work = [(batch, lambda batch: benchmark.compute(runtime, batch)) for batch in batches]
    else:
        from .generation import Sampling

        backend = backend or make_backend(config, state)
        work = []
        # Consecutive items with the same answer length share a batch.
        for tokens, group in groupby(items, key=lambda it: it.max_new_tokens or benchmark.max_new_tokens):
            group = list(group)
            sampling = Sampling(tokens, config.do_sample, config.temperature, config.top_p, config.num_beams, config.seed)
            for start in range(0, len(group), config.batch_size):
                work.append((group[start : start + config.batch_size], _generator(backend, sampling)))
    loop.start()
    for batch, produce in work:
        store.append(produce(batch))
        loop.advance(len(batch))


def _generator(backend: Any, sampling: Any):
    def produce(batch: list[Item]) -> list[dict[str, Any]]:
        answers = backend.generate(batch, sampling)
        return [{"id": item.id, "prediction": answer} for item, answer in zip(batch, answers)]

    return produce


def make_backend(config: EvalConfig, state: PartialState) -> Any:
    from .generation import TransformersBackend, VLLMBackend
    from .loading import load_eval_processor, load_model

    if config.backend not in ("transformers", "vllm"):
        raise ConfigError(f"unknown backend {config.backend!r}; expected transformers or vllm")
    if config.backend == "vllm":
        if state.num_processes > 1:
            raise ConfigError("backend=vllm runs in one process; use tensor_parallel_size=N instead of accelerate launch")
        VLLMBackend.check_installed()
        return VLLMBackend(config, load_eval_processor(config))
    processor = load_eval_processor(config)
    model = load_model(config, adapter=config.adapter).to(state.device)
    return TransformersBackend(model, processor, config.num_frames, config.fps, name=config.model)
