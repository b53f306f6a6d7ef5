"""One place for numba flags, so every kernel compiles the same way."""

from __future__ import annotations

import numba

NJIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}


def njit(func):
    return numba.njit(**NJIT_OPTIONS)(func)
