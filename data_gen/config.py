"""Settings of ``python -m mmalign.gen_pairs``: one flat dataclass, validated like training recipes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mmalign.config import build_config, check_ranges, load_values
from mmalign.errors import ConfigError

PIPELINES = ("halva", "selfalign", "autotag")
DEFAULT_PROMPTS = [
    "Describe the image in detail.",
    "What do you see in this image? Describe it.",
    "Give a detailed description of the picture.",
]

# Keys that change how a run goes but not what it writes: a resume may change them.
OPERATIONAL_KEYS = frozenset({
    "recipe", "output_file", "stats_file", "overwrite", "merge", "shard_index", "num_shards", "window",
    "concurrency", "request_timeout", "max_retries", "backoff_base", "backoff_max", "base_url",
    "api_key_env", "llm_cache", "use_cache", "llm_batch_size", "answer_batch_size", "progress", "commit_every",
})


@dataclass
class GenConfig:
    # what and where
    pipeline: str = field(default="halva", metadata={"help": "halva, selfalign or autotag."})
    recipe: str | None = None
    output_file: str = field(default="", metadata={"help": "Canonical JSONL of pairs."})
    stats_file: str | None = field(default=None, metadata={"help": "Default: <output stem>.stats.json."})
    media_root: str | None = field(default=None, metadata={"help": "Directory relative media paths start from."})
    seed: int = 0
    overwrite: bool = field(default=False, metadata={"help": "Start again instead of resuming."})
    max_items: int | None = field(default=None, metadata={"help": "Only the first N items (before sharding)."})
    check_media: bool = field(default=True, metadata={"help": "Skip (and count) items whose media cannot be read."})
    progress: bool = True
    # scale
    num_shards: int = 1
    shard_index: int = 0
    merge: bool = field(default=False, metadata={"help": "Join the finished shards into output_file."})
    window: int = field(default=64, metadata={"help": "Items in flight at once."})
    commit_every: int = field(default=64, metadata={"help": "Items per commit (also every 5 s)."})
    # LLM
    llm: str = field(default="none", metadata={"help": "none, openai or transformers."})
    llm_model: str = ""
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    request_timeout: float = 60.0
    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_reasks: int = 2
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    llm_batch_size: int = 8
    use_cache: bool = True
    llm_cache: str | None = field(default=None, metadata={"help": "Default: <output stem>.llm-cache.sqlite."})
    dtype: str = "auto"
    # halva
    vg_dir: str | None = None
    vg_files: list[str] = field(default_factory=lambda: ["objects", "attributes", "relationships"])
    coco_instances: str | None = None
    coco_captions: str | None = None
    qa_file: str | None = None
    max_qa: int | None = None
    aliases_file: str | None = None
    kinds: list[str] = field(default_factory=lambda: ["closed", "open", "qa"])
    prompts: list[str] = field(default_factory=lambda: list(DEFAULT_PROMPTS))
    max_concepts: int = 6
    caption_replacements: int = field(default=1, metadata={"help": "kind caption: object mentions replaced per pair."})
    min_cooccurrence: int = 1
    # selfalign
    input_file: str = ""
    model: str = field(default="", metadata={"help": "selfalign: the model being aligned."})
    model_revision: str | None = None
    trust_remote_code: bool = False
    attn_implementation: str = "auto"
    num_frames: int = 16
    perturbations: list[str] = field(default_factory=lambda: ["none", "shuffle", "reverse", "subsample", "mask"])
    mask_ratio: float = 0.5
    crop_ratio: float = 0.5
    subsample_stride: int = 4
    max_new_tokens: int = 64
    answer_batch_size: int = 8
    short_answer_words: int = 3
    synonyms_file: str | None = field(default=None, metadata={"help": "Object vocabulary for answer_type objects: "
                                                              "JSON category → words, or CHAIR's synonyms.txt."})
    # selfalign and autotag
    max_diff_share: float = field(default=0.5, metadata={"help": "Reject pairs whose phrases cover more of the response."})
    split: str = "train"

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise ConfigError(f"unknown pipeline {self.pipeline!r}; expected one of {', '.join(PIPELINES)}")
        if not self.output_file:
            raise ConfigError("no output given: set output_file=PATH")
        if self.num_shards < 1 or not 0 <= self.shard_index < self.num_shards:
            raise ConfigError(f"shard_index must be in [0, num_shards={self.num_shards})")
        if self.window < 1 or self.concurrency < 1:
            raise ConfigError("window and concurrency must be at least 1")
        if self.caption_replacements < 1:
            raise ConfigError("caption_replacements must be at least 1")
        if not 0 < self.max_diff_share <= 1:
            raise ConfigError("max_diff_share must be in (0, 1]")

    def fingerprint(self) -> str:
        """A hash of the settings that shape the output (a resume must keep them)."""
        values = {k: v for k, v in asdict(self).items() if k not in OPERATIONAL_KEYS}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]

    def shard_output(self) -> Path:
        return shard_path(self.output_file, self.shard_index, self.num_shards)

    def stats_path(self) -> Path:
        if self.stats_file and not self.merge and self.num_shards > 1:
            return shard_path(self.stats_file, self.shard_index, self.num_shards)
        if self.stats_file:
            return Path(self.stats_file)
        out = Path(self.output_file) if self.merge else self.shard_output()
        return out.with_name(out.stem + ".stats.json")

    def cache_path(self) -> Path | None:
        if not self.use_cache:
            return None
        if self.llm_cache:
            return Path(self.llm_cache)
        out = Path(self.output_file)
        return out.with_name(out.stem + ".llm-cache.sqlite")


def shard_path(path: str | Path, shard_index: int, num_shards: int) -> Path:
    """``pairs.jsonl`` itself for one shard, else ``pairs-00002-of-00008.jsonl``."""
    path = Path(path)
    if num_shards == 1:
        return path
    return path.with_name(f"{path.stem}-{shard_index:05d}-of-{num_shards:05d}{path.suffix}")


#: settings of the right type that cannot work (``max_items=-1`` would drop the last item)
GEN_BOUNDS = {
    "max_items": (1, True, "use at least one item (or leave it unset for all)"),
    "num_frames": (1, True, "a video needs at least one frame"),
    "max_qa": (0, True, "a count cannot be negative"),
    "max_concepts": (1, True, "a response names at least one concept"),
    "max_tokens": (1, True, "a reply needs at least one token"),
    "max_new_tokens": (1, True, "an answer needs at least one token"),
    "llm_batch_size": (1, True, "a batch holds at least one request"),
    "answer_batch_size": (1, True, "a batch holds at least one question"),
    "commit_every": (1, True, "commit after at least one item"),
    "max_retries": (0, True, "a count cannot be negative"),
    "request_timeout": (0, False, "a timeout must be positive"),
}


def load_gen_config(argv: list[str]) -> GenConfig:
    values = load_values(argv, "gen")
    check_ranges(values, GEN_BOUNDS)
    return build_config(GenConfig, values)
