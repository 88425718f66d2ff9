"""What every command-line entry point shares: one-line errors and logging set-up."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from .errors import MMAlignError
from .redact import install_log_redaction


def run_cli(prog: str, func: Callable[[list[str]], object], argv: list[str] | None = None) -> int:
    """Run ``func(argv)``; a :class:`MMAlignError` becomes ``prog: error: …`` on stderr and exit code 2."""
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    install_log_redaction()  # HTTP clients log the URLs they call, credentials included
    try:
        func(argv)
    except MMAlignError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0
