"""Threshold with minimum duration and hysteresis, per vehicle.

Fires when the value stays beyond `on_value` for at least `on_ms`; clears when it stays on the
safe side of `off_value` for at least `off_ms`. A silence longer than `max_gap_ms` restarts a
duration in progress (we cannot know what happened in between). Samples are taken in time
order per vehicle; a sample not newer than the vehicle's last one (late or duplicate) is skipped,
so replaying a batch changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import SampleKernel, Spec
from rules.kernels.config import GAP, USE, admit, emit, njit

STATE: Spec = {
    "last_ts": (np.int64, -1, ()),  # -1: no sample yet
    "since": (np.int64, -1, ()),  # start of the current run beyond on_value, -1: none
    "clear_since": (np.int64, -1, ()),  # start of the current run on the safe side while active
    "active": (np.int8, 0, ()),
    "peak": (np.float64, np.nan, ()),  # worst value of the current run or episode
}


@njit
def _threshold_kernel(
    slot,
    ts,
    value,
    ev,
    on_value,
    on_ms,
    off_value,
    off_ms,
    max_gap_ms,
    above,
    last_ts,
    since,
    clear_since,
    active,
    peak,
):
    n_ev = 0
    for i in range(slot.shape[0]):
        s, t, v, step = admit(i, slot, ts, value, last_ts, max_gap_ms)
        if step & GAP:
            since[s] = -1
            clear_since[s] = -1
        if not step & USE:
            continue
        beyond = v > on_value if above else v < on_value
        safe = v < off_value if above else v > off_value
        if active[s] == 0:
            if beyond:
                if since[s] < 0:
                    since[s] = t
                    peak[s] = v
                elif (above and v > peak[s]) or (not above and v < peak[s]):
                    peak[s] = v
                if t - since[s] >= on_ms:
                    active[s] = 1
                    clear_since[s] = -1
                    n_ev = emit(ev, n_ev, s, 1, t, since[s], peak[s], np.nan)
            else:
                since[s] = -1
        else:
            if (above and v > peak[s]) or (not above and v < peak[s]):
                peak[s] = v
            if safe:
                if clear_since[s] < 0:
                    clear_since[s] = t
                if t - clear_since[s] >= off_ms:
                    active[s] = 0
                    n_ev = emit(ev, n_ev, s, 2, t, clear_since[s], peak[s], np.nan)
                    since[s] = -1
                    clear_since[s] = -1
            else:
                clear_since[s] = -1
    return n_ev


@dataclass(frozen=True)
class ThresholdParams(SampleKernel, kernel=_threshold_kernel, state=STATE):
    on_value: float
    on_ms: int
    off_value: float
    off_ms: int
    max_gap_ms: int
    above: bool = True
