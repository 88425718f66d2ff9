"""Runs ``mmalign.train`` once per method, in one (possibly launched) process, for the distributed tests.

usage: [accelerate launch ...] python tests/distributed_worker.py OUT_DIR RUNS [key=value ...]

RUNS is a comma-separated list of ``label=method[+key=value...]`` (e.g.
``lora_dpa=dpa,full_rrpo=rrpo+use_peft=false``). Each run trains with ``output_dir=OUT_DIR/label``,
the shared keys and its own, and the main process writes ``OUT_DIR/label/result.json``: the log
history, the world size, the LoRA weights it started from, and how the frozen reference's
parameters are held. Several runs share one launch because starting processes is the slow part.

LoRA weights are set to fixed random values before training (:func:`perturb_lora`): a fresh
adapter has B = 0, so the policy would equal the reference and the A matrices and the token-wise KL
would get no gradient; with both non-zero every part of the loss is exercised.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import torch

import mmalign.train as train_module

LORA_SEED = 1234


def perturb_lora(model: torch.nn.Module) -> dict[str, list]:
    """Set every LoRA matrix to seeded random values (the same in every process); returns them."""
    generator = torch.Generator().manual_seed(LORA_SEED)
    values = {}
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if "lora_" in name:
                scale = 0.1 if "lora_A" in name else 0.05
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
                values[name] = param.tolist()
    return values


@contextlib.contextmanager
def lora_perturbation():
    """While active, adapters made by ``mmalign.train.load_model`` are perturbed; yields the values."""
    initial: dict[str, list] = {}
    load_model = train_module.load_model

    def load_and_perturb(*args, **kwargs):
        model = load_model(*args, **kwargs)
        initial.clear()
        if hasattr(model, "disable_adapter"):
            initial.update(perturb_lora(model))
        return model

    train_module.load_model = load_and_perturb
    try:
        yield initial
    finally:
        train_module.load_model = load_model


def parse_runs(spec: str) -> list[tuple[str, list[str]]]:
    """``label=method+key=value,...`` → [(label, ["method=...", "key=value", ...])]."""
    runs = []
    for item in spec.split(","):
        label, rest = item.split("=", 1)
        method, *keys = rest.split("+")
        runs.append((label, [f"method={method}", *keys]))
    return runs


def train_runs(out_dir: Path, spec: str, overrides: list[str]) -> dict[str, dict]:
    """Train every run of ``spec``; returns (and, on the main process, writes) their results."""
    results = {}
    with lora_perturbation() as initial:
        for label, keys in parse_runs(spec):
            run_dir = out_dir / label
            trainer = train_module.run(train_module.load_config([*overrides, *keys, f"output_dir={run_dir}"]))
            results[label] = {
                "world_size": trainer.args.world_size,
                "log_history": trainer.state.log_history,
                "initial_lora": dict(initial),
                "reference": reference_layout(trainer),
            }
            if trainer.is_world_process_zero():
                (run_dir / "result.json").write_text(json.dumps(results[label]))
    return results


def reference_layout(trainer) -> dict[str, int]:
    """How the frozen reference is held: parameters, elements on this rank, elements in all."""
    reference = trainer.ref_model
    if reference is None:
        return {}
    module = getattr(reference, "module", reference)
    params = list(module.parameters())
    local = sum(getattr(p, "ds_tensor", p).numel() for p in params)
    total = sum(getattr(p, "ds_numel", p.numel()) for p in params)
    return {"parameters": len(params), "local_elements": local, "total_elements": total}


def main(argv: list[str]) -> int:
    train_runs(Path(argv[0]), argv[1], argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
