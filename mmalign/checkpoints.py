"""Checkpoints that a kill cannot leave half-written, and the choice of one to resume from.

The Trainer writes ``checkpoint-N`` file by file; a run killed meanwhile would leave a folder that
looks like a checkpoint and makes every later resume fail. Here each checkpoint is written under a
staging name (``checkpoint-N.incomplete/checkpoint-N``) and renamed into place once every file is
there, so a ``checkpoint-N`` folder is always complete. Resuming picks the newest complete
checkpoint, says which incomplete ones it passes over, and starts from scratch (with a notice)
when there is none yet: ``resume_from_checkpoint=true`` is always safe to add.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .errors import ConfigError

logger = logging.getLogger("mmalign")

#: what the staging folder of ``checkpoint-N`` is called while it is being written
STAGING_SUFFIX = ".incomplete"
#: written last by the Trainer: a checkpoint folder without it never finished
STATE_FILE = "trainer_state.json"
_CHECKPOINT_RE = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def staging_dir(run_dir: str | Path, step: int) -> Path:
    """Where ``checkpoint-<step>`` of ``run_dir`` is written before it is renamed into place."""
    return Path(run_dir) / f"{PREFIX_CHECKPOINT_DIR}-{step}{STAGING_SUFFIX}"


def publish(staged: Path, final: Path) -> None:
    """Move a completely written checkpoint into place (replacing an older one of the same step)."""
    if final.exists():
        shutil.rmtree(final)
    staged.rename(final)
    shutil.rmtree(staged.parent, ignore_errors=True)


def is_complete(path: Path) -> bool:
    return path.is_dir() and (path / STATE_FILE).is_file()


def resolve_resume(resume: str | bool | None, output_dir: str | Path) -> str | None:
    """The checkpoint to resume from for ``resume_from_checkpoint`` (None: start from scratch).

    ``true``/``last``: the newest complete checkpoint of ``output_dir``, or None with a notice when
    there is none yet. A path must be a complete checkpoint.
    """
    if resume in (None, False, ""):
        return None
    if resume is True or str(resume).lower() in ("true", "last"):
        found = last_complete_checkpoint(output_dir)
        if found is None:
            logger.info("resume_from_checkpoint: no checkpoint in %s yet; starting from scratch", output_dir)
            return None
        logger.info("resuming from %s", found)
        return str(found)
    path = Path(str(resume)).expanduser()
    if not path.is_dir():
        raise ConfigError(f"resume_from_checkpoint={resume}: no such checkpoint folder")
    if not is_complete(path):
        raise ConfigError(f"resume_from_checkpoint={resume}: an incomplete checkpoint (no {STATE_FILE}); "
                          "resume from an earlier one, or resume_from_checkpoint=true for the newest complete one")
    return str(path)


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete ``checkpoint-N`` of ``output_dir`` with the highest N; incomplete ones (and
    staging folders left by a kill) are passed over with a notice."""
    folder = Path(output_dir).expanduser()
    if not folder.is_dir():
        return None
    complete: list[tuple[int, Path]] = []
    for path in sorted(folder.iterdir()):
        if path.name.endswith(STAGING_SUFFIX) and path.is_dir():
            logger.info("skipping %s: a checkpoint whose writing was interrupted", path)
            continue
        match = _CHECKPOINT_RE.match(path.name)
        if match is None or not path.is_dir():
            continue
        if is_complete(path):
            complete.append((int(match.group(1)), path))
        else:
            logger.info("skipping %s: an incomplete checkpoint (no %s)", path, STATE_FILE)
    return max(complete)[1] if complete else None
