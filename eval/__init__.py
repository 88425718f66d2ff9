"""Benchmarks, metrics and generation backends behind ``python -m mmalign.evaluate``.

``eval.metrics``: the metric functions (``chair``, ``pope``, ``vcr_order``, AMBER, MME, MMHal-Bench);
``eval.benchmarks``: one reader + scorer per benchmark, on its released files; ``eval.generation``:
the ``transformers`` and ``vllm`` backends; ``eval.runner``: resumable, sharded runs;
``eval.results`` / ``eval.compare``: result files and base-vs-aligned tables and charts.
"""
