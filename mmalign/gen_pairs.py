"""``python -m mmalign.gen_pairs recipe=NAME [key=value ...]``: build training pairs.

Pipelines (``pipeline=``): ``halva`` (DPA's correct/hallucinated pairs from Visual Genome or COCO),
``selfalign`` (RRPO's pairs from the model's own wrong answers), ``autotag`` (tags any
prompt/chosen/rejected set by a word-level diff). The work lives in :mod:`mmalign.data_gen`.
"""

from __future__ import annotations

import sys

from .cli import run_cli
from .config import list_recipes

USAGE = """usage: python -m mmalign.gen_pairs recipe=NAME [key=value ...]

Builds preference pairs (canonical JSONL that `python -m mmalign.train` reads) and a stats JSON.
A killed run resumes where it stopped when started again with the same settings.
  python -m mmalign.gen_pairs recipe=halva_vg llm=none vg_dir=data/vg media_root=data/vg output_file=pairs.jsonl
  python -m mmalign.gen_pairs recipe=halva_vg llm=openai llm_model=Qwen/Qwen2.5-72B-Instruct base_url=http://host:8000/v1
  python -m mmalign.gen_pairs recipe=selfalign_video model=llava-hf/LLaVA-Video-7B-Qwen2-hf input_file=qa.jsonl
Across machines: add num_shards=N shard_index=K to each, then merge=true num_shards=N once.

recipes: {recipes}
"""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        print(USAGE.format(recipes=", ".join(list_recipes("gen"))))
        return 0
    return run_cli("mmalign.gen_pairs", _run, argv)


def _run(argv: list[str]) -> None:
    from mmalign.data_gen.config import load_gen_config
    from mmalign.data_gen.merge import merge_shards
    from mmalign.data_gen.runner import generate

    config = load_gen_config(argv)
    if config.merge:
        merge_shards(config)
    else:
        generate(config)


if __name__ == "__main__":
    sys.exit(main())
