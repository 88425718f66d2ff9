"""On-disk cache of LLM replies, keyed by model, messages and sampling parameters.

A rerun (or a resumed run) costs no calls for what was already asked. SQLite (standard library)
stores it: writes are atomic, so a killed process never leaves a half-written entry, and several
processes on one machine (shards) can share one file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any


def cache_key(model: str, messages: list[dict], params: dict[str, Any]) -> str:
    payload = json.dumps([model, messages, params], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ReplyCache:
    """``get``/``put`` of reply texts; ``path=None`` keeps them in memory only."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path).expanduser() if path else None
        self._memory: dict[str, str] = {}
        self._db = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT NOT NULL)")

    def get(self, key: str) -> str | None:
        if self._db is None:
            return self._memory.get(key)
        row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, reply: str) -> None:
        if self._db is None:
            self._memory[key] = reply
        else:
            self._db.execute("INSERT OR REPLACE INTO replies (key, reply) VALUES (?, ?)", (key, reply))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
