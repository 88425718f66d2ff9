"""mmalign: phrase-level preference alignment for multimodal LLMs.

Methods: DPA (HALVA, arXiv 2405.18654), RRPO (arXiv 2504.12083), and the DPO / TDPO baselines.
"""

__version__ = "0.1.0"
