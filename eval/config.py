"""The keys every evaluation takes; each benchmark adds its own in a subclass.

Recipes live in ``recipes/eval/`` and are merged with ``key=value`` overrides by
:func:`mmalign.config.load_values`; :func:`mmalign.config.build_config` validates them against the
benchmark's dataclass, so an unknown key or a value of the wrong type stops with one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EvalConfig:
    benchmark: str = field(default="", metadata={"help": "Benchmark name (see python -m mmalign.evaluate --help)."})
    model: str = field(default="", metadata={"help": "Hub id or local path of the model (the base, with adapter=)."})
    adapter: str | None = field(default=None, metadata={"help": "PEFT adapter (LoRA) to load on top of the model."})
    model_revision: str | None = None
    trust_remote_code: bool = False
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on a GPU that has it, else float32), float32, bfloat16, float16."})
    attn_implementation: str = field(default="auto", metadata={"help": "auto, sdpa, eager, flash_attention_2."})
    backend: str = field(default="transformers", metadata={"help": "transformers or vllm."})
    output_dir: str | None = field(default=None, metadata={"help": "Predictions and results; default outputs/eval/<benchmark>-<model>."})
    overwrite: bool = field(default=False, metadata={"help": "Discard earlier predictions in output_dir instead of resuming."})
    media_root: str | None = field(default=None, metadata={"help": "Directory the benchmark's images or videos are in."})
    num_frames: int | None = field(default=None, metadata={"help": "Frames sampled uniformly per video (16 unless fps is set)."})
    fps: float | None = field(default=None, metadata={"help": "Sample videos at this rate instead of num_frames."})
    batch_size: int = 8
    max_new_tokens: int | None = field(default=None, metadata={"help": "Default: the benchmark's own."})
    do_sample: bool = field(default=False, metadata={"help": "Greedy decoding unless true."})
    temperature: float = 1.0
    top_p: float = 1.0
    num_beams: int = 1
    seed: int = 0
    max_samples: int | None = field(default=None, metadata={"help": "Evaluate only the first N items."})
    prompt_suffix: str | None = field(default=None, metadata={"help": "Appended to every question; default: the benchmark's own."})
    strict_parsing: bool = field(
        default=False,
        metadata={"help": "Read answers with the project's stricter parsers instead of the benchmark's official script's rules "
                  "(scores then differ from the published scripts' numbers; see docs/benchmarks.md)."},
    )
    tensor_parallel_size: int = field(default=1, metadata={"help": "vllm only: GPUs per model."})
    recipe: str | None = None

    def resolved_output_dir(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir).expanduser()
        name = Path(self.model.rstrip("/")).name or "model"
        if self.adapter:
            name += "-" + Path(self.adapter.rstrip("/")).name
        return Path("outputs") / "eval" / f"{self.benchmark}-{name}"


#: Keys that do not change the stored predictions (everything else must match to resume). The
#: judge's replies are kept per judge model, so another judge re-judges the same predictions.
RESUMABLE_KEYS = (
    "batch_size", "overwrite", "output_dir", "recipe", "max_samples", "backend", "tensor_parallel_size", "strict_parsing",
    "judge_model", "judge_base_url", "judge_api_key_env", "judge_concurrency", "judge_max_tokens",
)
