"""Benchmarks (and the OOLONG-style task generator the tests share)."""
