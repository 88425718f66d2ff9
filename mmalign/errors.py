"""Errors that the command line reports as one line, without a traceback."""

from __future__ import annotations


class MMAlignError(Exception):
    """Base class: a user-facing problem, printed as a single line by the entry points."""


class ConfigError(MMAlignError):
    """A recipe or a ``key=value`` override is invalid."""


class DataError(MMAlignError):
    """A record is invalid. The message names the file, line and record id."""

    def __init__(self, message: str, *, source: str | None = None, record_id: str | None = None):
        prefix = ""
        if source:
            prefix += f"{source}: "
        if record_id is not None:
            prefix += f"record {record_id!r}: "
        super().__init__(prefix + message)
        self.source = source
        self.record_id = record_id
