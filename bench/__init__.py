"""Benchmarks: scripts that print percentiles and ratios (see bench/README.md)."""
