"""One place for numba flags, so every kernel compiles the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numba

T = TypeVar("T")


def njit(func: Callable[..., T]) -> Callable[..., T]:
    compiled: Callable[..., T] = numba.njit(cache=True, nogil=True, fastmath=False)(func)
    return compiled


@njit
def emit(ev, n_ev, slot, kind, ts, since, value, detail):
    """Write one event into the `Events.columns()` arrays at `n_ev`; returns the next index."""
    ev[0][n_ev] = slot
    ev[1][n_ev] = kind
    ev[2][n_ev] = ts
    ev[3][n_ev] = since
    ev[4][n_ev] = value
    ev[5][n_ev] = detail
    return n_ev + 1
