"""One place for numba flags, so every kernel compiles the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numba

T = TypeVar("T")

NJIT_OPTIONS = {"cache": True, "nogil": True, "fastmath": False}


def njit(func: Callable[..., T]) -> Callable[..., T]:
    return numba.njit(**NJIT_OPTIONS)(func)
