"""What every command-line entry point shares (one-line errors, logging set-up), and the ``mmalign``
command, whose sub-commands run the ``python -m`` entry points:

``mmalign train …`` = ``python -m mmalign.train …``, ``mmalign gen-pairs …`` =
``python -m mmalign.gen_pairs …``, ``mmalign evaluate …`` = ``python -m mmalign.evaluate …``
(``python -m mmalign …`` is the ``mmalign`` command too), as TRL's ``trl dpo …``.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable

from .errors import MMAlignError
from .redact import install_log_redaction

#: sub-command → (module whose ``main(argv)`` runs it, what it does)
COMMANDS = {
    "train": ("mmalign.train", "align a model with DPA, RRPO, DPO or TDPO"),
    "gen-pairs": ("mmalign.gen_pairs", "build preference pairs (halva, selfalign, autotag)"),
    "evaluate": ("mmalign.evaluate", "run a benchmark, or compare runs side by side"),
}

USAGE = """usage: mmalign COMMAND [key=value ...]   (or: python -m mmalign.MODULE [key=value ...])

commands:
{commands}

`mmalign COMMAND --help` shows a command's options and recipes. `python -m mmalign COMMAND …` is the
same; on several GPUs: `accelerate launch -m mmalign train …`.
"""


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


def main(argv: list[str] | None = None) -> int:
    """The ``mmalign`` console command: ``mmalign COMMAND [key=value ...]``."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {about} (python -m {module})" for name, (module, about) in COMMANDS.items()]
        print(USAGE.format(commands="\n".join(lines)))
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"mmalign: error: unknown command {command!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[command][0]).main(rest)
