"""Pair-construction pipelines (DPA generative augmentation, RRPO self-alignment, autotag) and
LLM backends, run by ``python -m mmalign.gen_pairs``.

``runner`` plans, shards and processes items concurrently; ``writer`` makes the output resumable;
``merge`` joins shards; ``halva``, ``selfalign`` and ``autotag`` are the pipelines; ``backends``
holds the LLM backends with their retries, cache and reply validation.
"""
