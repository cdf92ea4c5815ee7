"""Benchmarks of the feature store against local PostgreSQL and Redis.

Run ``python -m benchmarks --quick`` (about three minutes on two cores) or ``python -m benchmarks``.
Each run works in a throwaway database and a unique Feast project, prints a table, and writes
the figures to ``artifacts/benchmarks/<timestamp>.json``. Benchmarks record numbers; they never
fail on a slow machine. docs/BENCHMARKS.md describes what each case measures.
"""
