"""Per-item records appended to JSONL files as they are produced, so a killed run resumes.

Each process appends to its own file (``predictions.jsonl`` in a single process,
``predictions.rank<R>.jsonl`` under ``accelerate launch``), one flushed line per item. Reading merges
every ``predictions*.jsonl`` of the directory, so a run may resume with another number of processes.
A process killed mid-write leaves at most one partial last line; it is cut off before appending
again (and skipped when reading), so no item is lost twice or stored twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mmalign.data.jsonio import read_json, read_text
from mmalign.errors import DataError

from .config import RESUMABLE_KEYS

FINGERPRINT = "run_config.json"


class PredictionStore:
    """The records of one evaluation directory."""

    def __init__(self, directory: str | Path, rank: int = 0, world_size: int = 1):
        self.directory = Path(directory)
        self.path = self.directory / ("predictions.jsonl" if world_size == 1 else f"predictions.rank{rank}.jsonl")

    def files(self) -> list[Path]:
        return sorted(self.directory.glob("predictions*.jsonl"))

    def load(self, require: str | None = None) -> dict[str, dict[str, Any]]:
        """Every complete record, by item id (the first one wins should an id repeat); ``require``
        names a field every record must hold as a string (``prediction`` for generated answers)."""
        records: dict[str, dict[str, Any]] = {}
        for path in self.files():
            text = read_text(path)
            lines = text.split("\n")
            if not text.endswith("\n"):
                lines = lines[:-1]  # a partial line left by a killed process
            for lineno, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"corrupt predictions line: {err.msg} (delete it to redo that item)", source=f"{path}:{lineno}") from None
                except RecursionError:
                    raise DataError("corrupt predictions line: nested too deeply (delete it to redo that item)", source=f"{path}:{lineno}") from None
                _check_record(record, f"{path}:{lineno}", require)
                records.setdefault(str(record["id"]), record)
        return records

    def repair(self) -> None:
        """Cut a partial last line off this process's file before appending to it."""
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            with self.path.open("r+b") as f:
                f.truncate(keep)

    def append(self, records: list[dict[str, Any]]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def clear(self) -> None:
        for path in self.files():
            path.unlink()
        (self.directory / FINGERPRINT).unlink(missing_ok=True)


def _check_record(record: Any, source: str, require: str | None) -> None:
    if not isinstance(record, dict):
        raise DataError("corrupt predictions line: expected a JSON object (delete it to redo that item)", source=source)
    if not isinstance(record.get("id"), (str, int)) or isinstance(record.get("id"), bool):
        raise DataError("corrupt predictions line: no 'id' (a string) (delete it to redo that item)", source=source)
    if require and not isinstance(record.get(require), str):
        found = f"no {require!r}" if require not in record else f"{require!r} must be text, got {record[require]!r}"
        raise DataError(f"corrupt predictions line: {found} (delete it to redo that item)",
                        source=source, record_id=str(record["id"]))


def _fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in RESUMABLE_KEYS}


def fingerprint_differences(directory: Path, config: dict[str, Any]) -> list[str]:
    """The settings in which ``config`` differs from those the predictions in ``directory`` were made
    with (none when the folder holds no predictions yet)."""
    path = directory / FINGERPRINT
    if not path.is_file():
        return []
    stored, wanted = read_json(path, "run settings"), _fingerprint(config)
    return sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))


def check_fingerprint(directory: Path, config: dict[str, Any], write: bool) -> None:
    """Refuse to resume predictions made with another configuration (another model, prompt …)."""
    path = directory / FINGERPRINT
    if path.is_file():
        differ = fingerprint_differences(directory, config)
        if differ:
            raise DataError(
                f"{directory} holds predictions made with other settings ({', '.join(differ)}); "
                "use another output_dir, or overwrite=true to discard them"
            )
    elif write:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_fingerprint(config), indent=2, sort_keys=True) + "\n", encoding="utf-8")
