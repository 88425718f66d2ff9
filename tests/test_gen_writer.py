"""Reliability at scale: kill -9 and resume, shards and merge, a server failing 30 % of requests,
items whose LLM calls keep failing, resuming with other settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gen_fixtures import ChatServer, thirty_percent, write_vg

from mmalign.data_gen.config import GenConfig
from mmalign.data_gen.merge import merge_shards
from mmalign.data_gen.runner import generate
from mmalign.data_gen.writer import journal_path
from mmalign.data.readers import read_pairs
from mmalign.errors import ConfigError, MMAlignError

FILES = ["objects", "attributes", "relationships", "question_answers"]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def vg_root(tmp_path_factory):
    return write_vg(tmp_path_factory.mktemp("vgset"))


def _args(vg_root, out, **extra):
    values = {"pipeline": "halva", "vg_dir": str(vg_root / "vg"), "vg_files": FILES, "output_file": str(out),
              "media_root": str(vg_root / "images"), "progress": False, "seed": 1, "llm": "none"}
    values.update(extra)
    return values


def _llm(server, **extra):
    return dict(llm="openai", llm_model="fake", base_url=server.base_url, backoff_base=0.001, backoff_max=0.01,
                concurrency=2, **extra)


def _lines(path):
    return [json.loads(line) for line in Path(path).read_text().split("\n") if line]


def test_killed_run_resumes_to_the_same_ids_each_once(vg_root, tmp_path):
    with ChatServer() as server:
        reference = tmp_path / "reference.jsonl"
        generate(GenConfig(**_args(vg_root, reference, **_llm(server))))
    expected = sorted(r["id"] for r in _lines(reference))
    assert {r["kind"] for r in _lines(reference)} == {"closed", "open", "qa"}

    out = tmp_path / "killed" / "pairs.jsonl"
    args = _args(vg_root, out, commit_every=1, window=2)
    with ChatServer(delay=0.2) as server:
        argv = [f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in {**args, **_llm(server)}.items()]
        proc = subprocess.Popen([sys.executable, "-m", "mmalign.gen_pairs", *argv], cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        journal = journal_path(out)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.is_file() and journal.read_text().count('"i": ') >= 3:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert '"complete"' not in journal.read_text()  # killed mid-way
    with open(out, "ab") as f:  # as if killed in the middle of writing a line
        f.write(b'{"id": "vg-cut", "prompt": "Desc')
    with ChatServer() as server:  # resumed in a new process
        generate(GenConfig(**_args(vg_root, out, **_llm(server))))
    ids = [r["id"] for r in _lines(out)]
    assert sorted(ids) == expected and len(ids) == len(set(ids))
    assert sorted(_lines(out), key=lambda r: r["id"]) == sorted(_lines(reference), key=lambda r: r["id"])
    assert len(read_pairs(out)) == len(expected)


def test_a_server_failing_30_percent_of_requests_loses_and_duplicates_nothing(vg_root, tmp_path):
    with ChatServer() as server:
        generate(GenConfig(**_args(vg_root, tmp_path / "healthy.jsonl", **_llm(server))))
    with ChatServer(fail_pattern=thirty_percent) as server:
        stats = generate(GenConfig(**_args(vg_root, tmp_path / "flaky.jsonl", **_llm(server, max_retries=10))))
        failures = sum(thirty_percent(n) != "ok" for n in range(1, len(server.requests) + 1))
    assert failures >= 6 and not stats.failed
    assert stats.llm["retries"] == failures
    healthy, flaky = _lines(tmp_path / "healthy.jsonl"), _lines(tmp_path / "flaky.jsonl")
    assert [r["id"] for r in flaky] == [r["id"] for r in healthy]  # same ids, same order, none twice
    assert flaky == healthy


def test_items_whose_llm_keeps_failing_are_left_for_the_next_run(vg_root, tmp_path):
    out = tmp_path / "pairs.jsonl"
    failing = ChatServer(fail_pattern=lambda n: 500 if n % 3 == 0 else "ok")
    with failing as server, pytest.raises(MMAlignError, match="items failed on LLM errors"):
        generate(GenConfig(**_args(vg_root, out, **_llm(server, max_retries=0))))
    first = {r["id"] for r in _lines(out)}
    with ChatServer() as server:
        stats = generate(GenConfig(**_args(vg_root, out, **_llm(server))))
    with ChatServer() as server:
        generate(GenConfig(**_args(vg_root, tmp_path / "reference.jsonl", **_llm(server))))
    ids = [r["id"] for r in _lines(out)]
    assert first < set(ids) and len(ids) == len(set(ids))
    assert sorted(ids) == sorted(r["id"] for r in _lines(tmp_path / "reference.jsonl"))
    assert not stats.failed and stats.done == stats.items


def test_shards_merge_into_the_unsharded_output(vg_root, tmp_path):
    whole = generate(GenConfig(**_args(vg_root, tmp_path / "whole.jsonl")))
    out = tmp_path / "sharded" / "pairs.jsonl"
    shards = [generate(GenConfig(**_args(vg_root, out, num_shards=3, shard_index=k))) for k in range(3)]
    assert sum(s.items for s in shards) == whole.items and all(s.items for s in shards)
    merged = merge_shards(GenConfig(**_args(vg_root, out, num_shards=3, merge=True)))
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert merged.accepted == whole.accepted and merged.rejected == whole.rejected
    assert json.loads((tmp_path / "sharded" / "pairs.stats.json").read_text())["pairs"] == sum(whole.accepted.values())


def test_merge_refuses_unfinished_shards(vg_root, tmp_path):
    out = tmp_path / "pairs.jsonl"
    generate(GenConfig(**_args(vg_root, out, num_shards=2, shard_index=0)))
    with pytest.raises(MMAlignError, match="shard 1 has not been generated"):
        merge_shards(GenConfig(**_args(vg_root, out, num_shards=2, merge=True)))


def test_resume_with_other_settings_or_a_foreign_file_is_refused(vg_root, tmp_path):
    out = tmp_path / "pairs.jsonl"
    generate(GenConfig(**_args(vg_root, out)))
    before = out.read_bytes()
    generate(GenConfig(**_args(vg_root, out, window=3)))  # operational keys may change: nothing to redo
    assert out.read_bytes() == before
    with pytest.raises(ConfigError, match="started with other settings"):
        generate(GenConfig(**_args(vg_root, out, seed=2)))
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"id": 1}\n')
    with pytest.raises(ConfigError, match="has no progress journal"):
        generate(GenConfig(**_args(vg_root, foreign)))
    generate(GenConfig(**_args(vg_root, foreign, overwrite=True)))
    assert foreign.read_bytes() == before
