"""One place for numba flags, so every kernel compiles the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

import numba
import numpy as np

T = TypeVar("T")


def njit(func: Callable[..., T]) -> Callable[..., T]:
    return _compiled(func, "never")


def njit_inline(func: Callable[..., T]) -> Callable[..., T]:
    """For helpers that take arrays in a kernel's per-sample loop: inlined in numba's IR, so no
    call (and no reference counting of its array arguments) remains per sample."""
    return _compiled(func, "always")


def _compiled(func: Callable[..., T], inline: Literal["never", "always"]) -> Callable[..., T]:
    compiled: Callable[..., T] = numba.njit(cache=True, nogil=True, fastmath=False, inline=inline)(func)
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


USE = 1  # `admit`: the sample's value goes to the kernel
GAP = 2  # `admit`: the vehicle was silent longer than max_gap: runs and durations restart
NO_GAP = 2**62  # max_gap of a kernel that never restarts on silence


@njit_inline
def admit(i, slot, ts, value, last_ts, max_gap_ms):
    """The prologue every sample kernel shares: reads sample `i` and moves its vehicle's clock.
    A sample not newer than the vehicle's last one (late or duplicate) is skipped; one after a
    silence longer than `max_gap_ms` reports GAP; a NaN value moves the clock (and so may report
    GAP) but is not USEd. Returns (slot, time, value, USE | GAP bits):
    `s, t, v, step = admit(i, slot, ts, value, last_ts, max_gap_ms)`."""
    s = slot[i]
    t = ts[i]
    v = value[i]
    last = last_ts[s]
    if t <= last:
        return s, t, v, 0
    last_ts[s] = t
    step = GAP if last >= 0 and t - last > max_gap_ms else 0
    if not np.isnan(v):
        step |= USE
    return s, t, v, step
