"""Helpers for tests, smoke recipes and benchmarks (tiny random models); not for real use."""
