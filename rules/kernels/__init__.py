"""Numba kernels. Each has a public wrapper here and a pure-Python reference in tests/naive.py."""
