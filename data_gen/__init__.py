"""Pair-construction pipelines (DPA generative augmentation, RRPO self-alignment)."""
