"""Benchmarks: `python -m bench NAME` prints JSON, its headline figure on the last line."""
