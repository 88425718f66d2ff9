"""Resumable JSONL output: pairs are appended item by item and committed through a journal.

Appending lines alone is not enough: a process killed mid-write (even ``kill -9``) leaves a
truncated last line, and an item whose pairs were only partly written would be written again on
resume. So the output holds nothing but canonical pair lines, and a journal beside it
(``<output>.progress``) holds one line per finished item (rejected items included):
``{"i": index, "id": item id, "start": byte, "end": byte, "pairs": [ids], "accepted": {kind: n},
"rejected": {reason: n}}``. Items are committed in groups: their lines are written to the output
and fsync'ed, and only then are their journal lines written. On start, the journal's last whole
line gives the committed length of the output; anything after it (lines of uncommitted items, a
cut line) is truncated away and those items are done again. The journal's first line records a
fingerprint of the settings that shape the output, so a resume with other settings is refused.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from mmalign.errors import ConfigError, DataError

JOURNAL_SUFFIX = ".progress"


def journal_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + JOURNAL_SUFFIX)


def read_journal(path: str | Path) -> tuple[dict | None, list[dict], bool, int]:
    """(header, item entries, complete?, byte length of the whole lines) of a journal file."""
    data = journal_path(path).read_bytes() if journal_path(path).is_file() else b""
    header, entries, complete, good = None, [], False, 0
    for raw in data.split(b"\n")[:-1]:  # the part after the last newline is a cut line
        try:
            line = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            break
        if header is None:
            header = line
        elif line.get("complete"):
            complete = True
        else:
            entries.append(line)
        good += len(raw) + 1
    return header, entries, complete, good


class ResumableWriter:
    """Appends committed items to ``path``; ``done`` maps the ids already committed to their entries."""

    def __init__(self, path: str | Path, fingerprint: str, overwrite: bool = False,
                 commit_every: int = 64, commit_seconds: float = 5.0):
        self.path = Path(path)
        self.journal = journal_path(self.path)
        self.commit_every, self.commit_seconds = commit_every, commit_seconds
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if overwrite:
            self.path.unlink(missing_ok=True)
            self.journal.unlink(missing_ok=True)
        header, entries, self.complete, good = read_journal(self.path)
        if header is None:
            if self.path.is_file() and self.path.stat().st_size > 0:
                raise ConfigError(
                    f"{self.path} exists and has no progress journal {self.journal.name}: "
                    "remove it, choose another output_file, or set overwrite=true"
                )
            self.journal.write_text(json.dumps({"fingerprint": fingerprint}) + "\n", encoding="utf-8")
            good = self.journal.stat().st_size
        elif header.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"{self.path} was started with other settings (see {self.journal.name}); "
                "use the same settings to resume, or set overwrite=true to start again"
            )
        committed = entries[-1]["end"] if entries else 0
        size = self.path.stat().st_size if self.path.is_file() else 0
        if size < committed:
            raise DataError(f"{self.path} is shorter than its journal says ({size} < {committed} bytes); "
                            "set overwrite=true to start again")
        with open(self.journal, "r+b") as f:  # drop a cut journal line
            f.truncate(good)
        with open(self.path, "ab") as f:  # drop lines of uncommitted items and any cut line
            f.truncate(committed)
        self.done: dict[str, dict] = {e["id"]: e for e in entries}
        self._end = committed
        # kept open for the whole run (closed by close()): one append per commit
        self._out = open(self.path, "ab")  # noqa: SIM115
        self._log = open(self.journal, "ab")  # noqa: SIM115
        self._lines: list[bytes] = []
        self._entries: list[dict] = []
        self._last_commit = time.monotonic()

    def add(self, index: int, item_id: str, pairs: list[dict[str, Any]],
            accepted: dict[str, int], rejected: dict[str, int]) -> dict:
        """Queue one finished item; it is committed with its group. Returns its journal entry."""
        data = b"".join(json.dumps(p, ensure_ascii=False).encode("utf-8") + b"\n" for p in pairs)
        entry = {"i": index, "id": item_id, "size": len(data), "pairs": [p["id"] for p in pairs],
                 "accepted": accepted, "rejected": rejected}
        self._lines.append(data)
        self._entries.append(entry)
        self.done[item_id] = entry
        if len(self._entries) >= self.commit_every or time.monotonic() - self._last_commit > self.commit_seconds:
            self.commit()
        return entry

    def commit(self) -> None:
        if not self._entries:
            return
        self._out.write(b"".join(self._lines))
        self._out.flush()
        os.fsync(self._out.fileno())  # the data is on disk before the journal points at it
        lines = []
        for entry in self._entries:
            size = entry.pop("size")
            entry["start"], entry["end"] = self._end, self._end + size
            self._end += size
            lines.append(json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
        self._log.write(b"".join(lines))
        self._log.flush()
        os.fsync(self._log.fileno())
        self._lines, self._entries = [], []
        self._last_commit = time.monotonic()

    def mark_complete(self, items: int) -> None:
        self.commit()
        if not self.complete:
            self._log.write(json.dumps({"complete": True, "items": items}).encode("utf-8") + b"\n")
            self._log.flush()
            self.complete = True

    def close(self) -> None:
        self.commit()
        self._out.close()
        self._log.close()
