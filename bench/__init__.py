"""Benchmarks of the customers service: ``python -m bench.run`` (see bench/run.py)."""
