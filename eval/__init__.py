"""Benchmarks, metrics and generation backends behind ``python -m mmalign.evaluate``.

``mmalign.eval.metrics``: the metric functions (``chair``, ``pope``, ``vcr_order``, AMBER, MME, MMHal-Bench);
``mmalign.eval.benchmarks``: one reader + scorer per benchmark, on its released files; ``mmalign.eval.generation``:
the ``transformers`` and ``vllm`` backends; ``mmalign.eval.runner``: resumable, sharded runs;
``mmalign.eval.results`` / ``mmalign.eval.compare``: result files and base-vs-aligned tables and charts.
"""
