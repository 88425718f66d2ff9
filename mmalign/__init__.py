"""mmalign: phrase-level preference alignment for multimodal LLMs.

Methods: DPA (HALVA, arXiv 2405.18654), RRPO (arXiv 2504.12083), and the DPO / TDPO baselines.
"""

__version__ = "0.1.0"

import logging as _logging

# bitsandbytes (imported by peft when installed) warns at import time, before any entry point has
# configured logging, about an optional CPU kernel; without a handler that lands on stderr and
# breaks the one-line error contract. Once logging is configured its warnings show as usual.
_logging.getLogger("bitsandbytes").addHandler(_logging.NullHandler())
