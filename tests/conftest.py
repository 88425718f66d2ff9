"""Shared fixtures: tiny models and the demo pair set, built offline once per test session."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# tiny:// assets built by tests go to a throwaway cache, not the user's.
os.environ["MMALIGN_CACHE"] = tempfile.mkdtemp(prefix="mmalign-cache-")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    from mmalign.builtin import build_demo_data

    return build_demo_data(tmp_path_factory.mktemp("demo") / "data")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Build tiny models lazily by family: ``tiny_model_dir("llava")`` → saved model directory."""
    from mmalign.builtin import demo_corpus
    from mmalign.tiny import build_tiny_vlm

    root = tmp_path_factory.mktemp("models")

    def build(family: str = "llava", tokenizer_kind: str = "bpe"):
        return build_tiny_vlm(family, root / f"{family}-{tokenizer_kind}", corpus=demo_corpus(), tokenizer_kind=tokenizer_kind)

    return build


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """``tiny_model("qwen2_vl")`` → (model in eval mode, processor), loaded once per session through
    ``AutoModelForImageTextToText`` / ``AutoProcessor``. Shared: tests must not change them."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    cache = {}

    def get(family: str = "llava"):
        if family not in cache:
            path = tiny_model_dir(family)
            cache[family] = (AutoModelForImageTextToText.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path))
        return cache[family]

    return get
