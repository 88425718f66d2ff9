"""Keeping credentials out of logs and written files.

A URL may carry a user name and password (``http://user:secret@host/v1``): HTTP clients log the
URLs they call, and settings are written beside results. :func:`redact_urls` replaces such user
info by ``***``; :class:`RedactingFilter` applies it to every log record of a handler.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# scheme://userinfo@ — userinfo runs up to the first "@" before any "/", "?", "#" or whitespace
_USERINFO_RE = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#@\s]+@")


def redact_urls(text: str) -> str:
    """``text`` with the user info of every URL in it replaced by ``***``."""
    return _USERINFO_RE.sub(r"\g<scheme>***@", text)


def redact_values(value: Any) -> Any:
    """A copy of nested settings (dicts, lists, strings) with URL user info redacted."""
    if isinstance(value, str):
        return redact_urls(value)
    if isinstance(value, dict):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_values(item) for item in value)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with :func:`redact_urls` (arguments included) before it is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_urls(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_log_redaction() -> None:
    """Add a :class:`RedactingFilter` to every handler of the root logger (once)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
