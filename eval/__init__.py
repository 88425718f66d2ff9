"""Benchmarks, metrics and generation backends."""
