"""Many processes on CPU: DDP and DeepSpeed ZeRO-2/3 give what one process gives.

Each test launches ``accelerate launch --num_processes 2`` with one of the shipped configs in
``recipes/accelerate/`` (gloo on CPU; DeepSpeed picks its CPU accelerator by itself when no GPU is
visible) and compares with one process, in this test process, on the same 4 pairs:
2 processes × 2 pairs against 1 process × 4 pairs, one optimizer step.

How the gradients are compared: the step is plain SGD with learning rate 1, no clipping, no weight
decay, so the weights after the step are ``w - g``. From the same starting weights, comparing the
saved weights compares the gradients (under ZeRO-3 the saved weights are the gathered ones, so that
is checked too). LoRA matrices start from fixed random values (see ``distributed_worker.py``) so that
the A matrices and the token-wise KL get gradients. Every pair of the demo set has one phrase, so the
per-process means that DDP averages equal the one-process means exactly.

Tolerances: losses and metrics relative 1e-5; weights (i.e. gradients) absolute 1e-6 plus relative
1e-4 — float32 sums taken in another order (a batch split in two, then an all-reduce) differ by a
few units of 1e-7 here.

The first DeepSpeed launch on a machine compiles DeepSpeed's shared-memory all-reduce for CPU
(about 30 s, cached in ~/.cache/torch_extensions); later launches load it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "recipes" / "accelerate"
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"
sys.path.insert(0, str(WORKER.parent))

from distributed_worker import train_runs  # noqa: E402

needs_deepspeed = pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed (pip install -e '.[deepspeed]')"
)

#: LoRA DPA and RRPO (reference = adapters off), and full fine-tuning RRPO (a frozen reference model)
RUNS = "lora_dpa=dpa,lora_rrpo=rrpo,full_rrpo=rrpo+use_peft=false"
METRIC_TOL = {"rel": 1e-5, "abs": 1e-6}
WEIGHT_TOL = {"rtol": 1e-4, "atol": 1e-6}


def shared_keys(model_dir: Path, data: Path) -> list[str]:
    return [
        f"model={model_dir}", f"train_file={data / 'pairs.jsonl'}", f"ref_file={data / 'refs.jsonl'}",
        f"media_root={data}", "max_samples=4", "max_steps=1", "optim=sgd", "learning_rate=1.0",
        "lr_scheduler_type=constant", "warmup_steps=0", "max_grad_norm=0", "weight_decay=0", "logging_steps=1",
        "lora_r=4", "lora_alpha=8", "lora_dropout=0", "use_cpu=true", "report_to=none", "save_strategy=steps",
        "save_steps=1000", "max_length=256", "disable_tqdm=true", "dataloader_num_workers=0",
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(config: str, args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """``accelerate launch`` two processes with ``recipes/accelerate/<config>``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIGS / config),
        "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
        "--main_process_port", str(free_port()), *args,
    ]  # fmt: skip
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="session")
def one_process(tiny_model_dir, demo_data, tmp_path_factory):
    """The runs of :data:`RUNS` in this process, 4 pairs per step."""
    out = tmp_path_factory.mktemp("one-process")
    model_dir = tiny_model_dir("llava")
    results = train_runs(out, RUNS, [*shared_keys(model_dir, demo_data), "per_device_train_batch_size=4"])
    return out, results, model_dir


def launched_runs(config: str, runs: str, one_process, demo_data, tmp_path) -> Path:
    _, _, model_dir = one_process
    args = [str(WORKER), str(tmp_path), runs, *shared_keys(model_dir, demo_data), "per_device_train_batch_size=2"]
    launch(config, args, tmp_path)
    return tmp_path


def model_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """Saved weights: the adapter's, or the full model's as loaded back (ZeRO-3 names them differently)."""
    if (run_dir / "adapter_model.safetensors").is_file():
        return load_file(run_dir / "adapter_model.safetensors")
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(run_dir).state_dict()


def assert_same_step(run_dir: Path, reference_dir: Path, reference_result: dict) -> dict:
    """Same loss, metrics and gradients as the one-process run; returns the launched run's result."""
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["world_size"], reference_result["world_size"]) == (2, 1)
    ours, theirs = result["log_history"][0], reference_result["log_history"][0]
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, **METRIC_TOL), key
    expected = model_weights(reference_dir)
    weights = model_weights(run_dir)
    assert set(weights) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(weights[name], value, **WEIGHT_TOL, msg=lambda m, n=name: f"{n}: {m}")
    return result


def assert_step_moved_weights(reference_dir: Path, reference_result: dict, model_dir: Path) -> None:
    """The step did change the weights, so equal weights after it do mean equal gradients."""
    after = model_weights(reference_dir)
    if reference_result["initial_lora"]:
        before = {n.replace(".default", ""): torch.tensor(v) for n, v in reference_result["initial_lora"].items()}
    else:
        before = model_weights(model_dir)
    moved = [name for name in after if not torch.allclose(after[name], before[name], atol=1e-4)]
    assert len(moved) >= len(after) // 4, f"only {len(moved)} of {len(after)} tensors changed"


def check_against_one_process(launched: Path, one_process, labels: list[str]) -> dict[str, dict]:
    out, results, model_dir = one_process
    found = {}
    for label in labels:
        assert_step_moved_weights(out / label, results[label], model_dir)
        found[label] = assert_same_step(launched / label, out / label, results[label])
    return found


def test_data_parallel_matches_one_process(one_process, demo_data, tmp_path):
    launched = launched_runs("multi_gpu.yaml", RUNS, one_process, demo_data, tmp_path)
    found = check_against_one_process(launched, one_process, ["lora_dpa", "lora_rrpo", "full_rrpo"])
    reference = found["full_rrpo"]["reference"]
    assert reference["local_elements"] == reference["total_elements"] > 0  # replicated on each process

    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(one_process[2])
    model = PeftModel.from_pretrained(base, launched / "lora_dpa")
    saved = load_file(launched / "lora_dpa" / "adapter_model.safetensors")
    state = {k.replace(".default", ""): v for k, v in model.state_dict().items() if "lora_" in k}
    assert set(state) == set(saved) and all(torch.equal(state[k], saved[k]) for k in saved)


@needs_deepspeed
def test_zero3_matches_one_process_and_shards_the_reference(one_process, demo_data, tmp_path):
    launched = launched_runs("zero3.yaml", RUNS, one_process, demo_data, tmp_path)
    found = check_against_one_process(launched, one_process, ["lora_dpa", "lora_rrpo", "full_rrpo"])
    reference = found["full_rrpo"]["reference"]
    # Each of the 2 processes holds about half of the frozen reference, never all of it.
    assert 0 < reference["local_elements"] <= reference["total_elements"] // 2 + reference["parameters"]


@needs_deepspeed
def test_zero2_matches_one_process_and_replicates_the_reference(one_process, demo_data, tmp_path):
    launched = launched_runs("zero2.yaml", "lora_dpa=dpa,full_rrpo=rrpo+use_peft=false", one_process, demo_data, tmp_path)
    found = check_against_one_process(launched, one_process, ["lora_dpa", "full_rrpo"])
    reference = found["full_rrpo"]["reference"]
    assert reference["local_elements"] == reference["total_elements"] > 0


def test_a_bad_record_stops_every_process_with_one_line(tiny_model_dir, demo_data, tmp_path):
    # Pair index 3 falls to the second process (pairs k, k + 2, … go to process k).
    records = [json.loads(line) for line in (demo_data / "pairs.jsonl").read_text().splitlines()[:6]]
    records[3]["images"] = ["images/missing.png"]
    train_file = tmp_path / "pairs.jsonl"
    train_file.write_text("".join(json.dumps(r) + "\n" for r in records))
    args = [
        "-m", "mmalign.train", f"model={tiny_model_dir('llava')}", f"train_file={train_file}",
        f"media_root={demo_data}", "use_cpu=true", "report_to=none", f"output_dir={tmp_path / 'out'}",
    ]  # fmt: skip
    proc = launch("multi_gpu.yaml", args, tmp_path, check=False)
    assert proc.returncode != 0
    # One line from each process, the same one (the two may interleave on the shared stderr).
    message = f"mmalign.train: error: {train_file}:4: record 'tiny-003': image file not found"
    assert proc.stderr.count("mmalign.train: error:") == 2 and proc.stderr.count(message) == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr.split("mmalign.train: error:")[0]
    assert not (tmp_path / "out").exists()


FAKE_SRUN = """#!/bin/bash
# srun on one machine: starts its command once per "node", all at once, as SLURM would on each node.
command=(); for a in "$@"; do [[ $a == --* ]] || command+=("$a"); done
pids=(); for ((node = 0; node < SLURM_NNODES; node++)); do SLURM_NODEID=$node "${command[@]}" & pids+=($!); done
status=0; for pid in "${pids[@]}"; do wait "$pid" || status=$?; done; exit $status
"""


def run_slurm_example(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """``recipes/accelerate/slurm_example.sh`` as SLURM would run it on 2 nodes of 1 device each,
    here both on this machine (stand-ins for srun and scontrol; the rendezvous is 127.0.0.1)."""
    bin_dir = tmp_path / "fake-slurm"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "scontrol").write_text("#!/bin/bash\necho 127.0.0.1\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {
        **os.environ, "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1", "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "node[0-1]", "SLURM_SUBMIT_DIR": str(ROOT),
        "GPUS_PER_NODE": "1", "MAIN_PORT": str(free_port()), "ACCELERATE_EXTRA_ARGS": "--mixed_precision no",
    }  # fmt: skip
    proc = subprocess.run(["bash", str(CONFIGS / "slurm_example.sh"), *args], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return proc


@needs_deepspeed
def test_zero3_command_line_checkpoints_resume_exactly_and_save_a_loadable_adapter(tiny_model_dir, tmp_path):
    """The SLURM example on 2 (simulated) nodes with the 2-node ZeRO-3 config trains 2 steps and is
    "killed"; ``accelerate launch --config_file zero3.yaml`` (2 processes, one node) resumes it."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from mmalign.config import load_config
    from mmalign.train import run

    out = tmp_path / "zero3"
    keys = ["recipe=smoke", "lr_scheduler_type=constant", "warmup_steps=0", "save_strategy=steps", "save_steps=1",
            "logging_steps=1", "disable_tqdm=true", f"output_dir={out}"]  # fmt: skip
    run_slurm_example([*keys, "max_steps=2"], tmp_path)
    first = {p: p.stat().st_mtime_ns for p in (out / "checkpoint-1").rglob("*") if p.is_file()}
    launch("zero3.yaml", ["-m", "mmalign.train", *keys, "max_steps=3", "resume_from_checkpoint=true"], tmp_path)
    assert {p: p.stat().st_mtime_ns for p in (out / "checkpoint-1").rglob("*") if p.is_file()} == first
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3]

    # The same 3 steps without interruption, in one process with the same global batch (2 x 4 pairs).
    straight = tmp_path / "straight"
    run(load_config([*keys[:-1], f"output_dir={straight}", "max_steps=3", "per_device_train_batch_size=8"]))
    resumed, expected = load_file(out / "adapter_model.safetensors"), load_file(straight / "adapter_model.safetensors")
    assert set(resumed) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(resumed[name], value, rtol=1e-4, atol=1e-5)

    base_path = json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(base_path), out)
    loaded = {k.replace(".default", ""): v for k, v in model.state_dict().items() if "lora_" in k}
    assert set(loaded) == set(resumed) and all(torch.equal(loaded[k], resumed[k]) for k in resumed)


def test_gpu_smoke_dry_run_prints_its_table_and_appends_it(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_smoke

    results = tmp_path / "RESULTS.md"
    assert gpu_smoke.main(["--dry-run", "--results", str(results)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    header, rows = lines[0], [dict(zip(gpu_smoke.COLUMNS, (c.strip() for c in line.strip("|").split("|")))) for line in lines[1:]]
    assert header == gpu_smoke.row({c: c for c in gpu_smoke.COLUMNS})
    assert [(r["config"], r["padding-free"]) for r in rows] == [
        ("LLaVA-1.5-7B DPA (tiny)", "off"), ("LLaVA-1.5-7B DPA (tiny)", "on"), ("Qwen2-VL-7B RRPO video (tiny)", "off"),
    ]  # fmt: skip
    for r in rows:
        assert not r["note"].startswith("failed") and float(r["tokens/s"].replace(",", "")) > 0 and float(r["step (s)"]) > 0
    assert float(rows[1]["check"]) < 1e-5  # packed and padded losses agree

    # tokens/step, counted from the batches training sees, equals the real tokens of one collated
    # batch: 2 pairs x 2 responses + 2 references.
    shape = gpu_smoke.SHAPES["llava"]["dry"]
    processor = gpu_smoke.build_processor("llava", shape)
    pairs_file, refs_file = gpu_smoke.write_data(tmp_path, "llava", shape, 2)
    from mmalign.data.dataset import MediaOptions, PairDataset, PreferenceCollator
    from mmalign.data.readers import read_conversations, read_pairs

    dataset = PairDataset(read_pairs(pairs_file), read_conversations(refs_file), MediaOptions(str(tmp_path)))
    batch = PreferenceCollator(processor)([dataset[0], dataset[1]])
    expected = sum(int(part["inputs"]["attention_mask"].sum()) for part in batch.values())
    assert int(rows[0]["tokens/step"]) == int(rows[1]["tokens/step"]) == expected

    text = results.read_text()
    assert text.startswith("# GPU smoke results") and "## CPU (dry run, tiny shapes) — " in text
    assert all(gpu_smoke.row(r) in text for r in rows)
