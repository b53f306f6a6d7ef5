"""Rate of change: the value moves faster than a limit per hour ("tyre pressure falls more than
10 kPa/h": a slow puncture).

The rate is measured over consecutive windows of at least `window_ms`: each window runs from an
anchor sample to the first sample `window_ms` or more later, which becomes the next anchor. A
window whose rate is beyond the limit fires; the first window within it clears. A silence longer
than `max_gap_ms` drops the anchor. Late or duplicate samples are skipped, as in every kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import SampleKernel, Spec
from rules.kernels.config import GAP, USE, admit, emit, njit

HOUR_MS = 3_600_000
STATE: Spec = {
    "last_ts": (np.int64, -1, ()),
    "anchor_ts": (np.int64, -1, ()),  # -1: no anchor
    "anchor_value": (np.float64, np.nan, ()),
    "active": (np.int8, 0, ()),
    "since": (np.int64, -1, ()),  # start of the first window beyond the limit
    "worst": (np.float64, np.nan, ()),  # worst rate of the episode, per hour
}


@njit
def _rate_kernel(
    slot,
    ts,
    value,
    ev,
    per_hour,
    falling,
    window_ms,
    max_gap_ms,
    last_ts,
    anchor_ts,
    anchor_value,
    active,
    since,
    worst,
):
    n_ev = 0
    for i in range(slot.shape[0]):
        s, t, v, step = admit(i, slot, ts, value, last_ts, max_gap_ms)
        if step & GAP:
            anchor_ts[s] = -1
        if not step & USE:
            continue
        if anchor_ts[s] < 0:
            anchor_ts[s] = t
            anchor_value[s] = v
            continue
        span = t - anchor_ts[s]
        if span < window_ms:
            continue
        rate = (v - anchor_value[s]) * HOUR_MS / span
        beyond = rate < -per_hour if falling else rate > per_hour
        if beyond:
            if active[s] == 0:
                active[s] = 1
                since[s] = anchor_ts[s]
                worst[s] = rate
                n_ev = emit(ev, n_ev, s, 1, t, since[s], rate, v)
            elif (falling and rate < worst[s]) or (not falling and rate > worst[s]):
                worst[s] = rate
        elif active[s] == 1:
            active[s] = 0
            n_ev = emit(ev, n_ev, s, 2, t, since[s], worst[s], v)
        anchor_ts[s] = t
        anchor_value[s] = v
    return n_ev


@dataclass(frozen=True)
class RateParams(SampleKernel, kernel=_rate_kernel, state=STATE):
    """Events carry the episode's worst rate per hour as `value` and the signal's value at the
    event as `detail`."""

    per_hour: float  # the limit, always positive
    falling: bool  # True: alert when the value falls faster than the limit
    window_ms: int
    max_gap_ms: int
