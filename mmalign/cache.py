"""Atomic cached builds: build a directory aside, move it into place, mark it done; and where built
assets live (:func:`cache_dir`: ``$MMALIGN_CACHE``, default ``~/.cache/mmalign``).

``build_cached`` serves every generated asset that is slow to make and cheap to keep (tiny models,
the procedural world's files, the world model). A JSON marker holding the build's settings is
written last, so a directory is either absent or a complete build; a later call with the same
settings reuses it. No library fits: the lock-free "write aside, ``os.replace``, compare marker"
dance is what makes concurrent builders (pytest-xdist workers) safe without a lock file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["build_cached", "cache_dir"]


def cache_dir() -> Path:
    """Where built assets (``tiny://``, ``world://``) are kept: ``$MMALIGN_CACHE``, default ``~/.cache/mmalign``."""
    return Path(os.environ.get("MMALIGN_CACHE", Path.home() / ".cache" / "mmalign")).expanduser()


def _read_marker(path: Path, marker: str) -> dict[str, Any] | None:
    try:
        return json.loads((path / marker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_built(path: Path, spec: Mapping[str, Any], marker: str) -> bool:
    """Whether ``path`` holds a complete build whose marker records ``spec``."""
    found = _read_marker(path, marker)
    if found is None:
        return False
    return all(found.get(k) == v for k, v in spec.items())


def build_cached(
    output_dir: str | Path,
    spec: Mapping[str, Any],
    build: Callable[[Path], None],
    marker: str,
    what: str = "build",
) -> Path:
    """Run ``build(tmp_dir)`` unless ``output_dir`` already holds a build with ``spec``.

    The build is written to a temporary sibling directory and moved into place, with the JSON
    ``marker`` (holding ``spec``) written last, so a directory is either absent, complete or a
    previous complete build. A build with another spec is replaced; a non-empty directory
    without the marker raises ``FileExistsError``. Concurrent builders of the same directory (e.g.
    pytest-xdist workers) are safe: the loser discards its copy. ``what`` names the kind of build
    in that error.
    """
    output_dir = Path(output_dir)
    if is_built(output_dir, spec, marker):
        return output_dir
    if output_dir.exists():
        if not output_dir.is_dir():
            raise FileExistsError(f"{output_dir} exists and is not a directory")
        if any(output_dir.iterdir()) and _read_marker(output_dir, marker) is None:
            raise FileExistsError(f"{output_dir} is not empty and does not hold a {what}; refusing to overwrite")

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.tmp-", dir=output_dir.parent))
    try:
        build(tmp)
        (tmp / marker).write_text(json.dumps(dict(spec), indent=2) + "\n", encoding="utf-8")
        if output_dir.exists():
            if is_built(output_dir, spec, marker):  # someone else finished first
                return output_dir
            shutil.rmtree(output_dir)
        try:
            os.replace(tmp, output_dir)
        except OSError:
            if is_built(output_dir, spec, marker):  # a concurrent builder won the race
                return output_dir
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return output_dir
