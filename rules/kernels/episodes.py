"""Repeated episodes, per vehicle: how a car is used rather than whether something is wrong.

An episode is a stretch of samples beyond `on_value` (above or below) that lasts at least
`min_ms`; each stretch counts once, when it reaches `min_ms`. The rule fires when `count`
episodes started within `window_ms` (a cold start below 0 °C eight times in 30 days), and clears
when the `count` most recent no longer fit in the window. A silence longer than `max_gap_ms`
ends a stretch in progress. The start times of the last `count` episodes are kept in a ring.
Late or duplicate samples are skipped, as in every kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import CLEAR, FIRE, SampleKernel, Spec
from rules.kernels.config import GAP, USE, admit, emit, njit

MAX_COUNT = 16  # ring size: a rule counts at most this many episodes

STATE: Spec = {
    "last_ts": (np.int64, -1, ()),
    "since": (np.int64, -1, ()),  # start of the current stretch beyond on_value, -1: none
    "counted": (np.int8, 0, ()),  # the current stretch has been counted
    "ring": (np.int64, -1, (MAX_COUNT,)),  # counted episodes' times, oldest overwritten
    "head": (np.int32, 0, ()),  # where the next episode goes (when full: the oldest)
    "filled": (np.int32, 0, ()),
    "active": (np.int8, 0, ()),
}


@njit
def _episodes_kernel(
    slot,
    ts,
    value,
    ev,
    on_value,
    above,
    min_ms,
    count,
    window_ms,
    max_gap_ms,
    last_ts,
    since,
    counted,
    ring,
    head,
    filled,
    active,
):
    n_ev = 0
    for i in range(slot.shape[0]):
        s, t, v, step = admit(i, slot, ts, value, last_ts, max_gap_ms)
        if step & GAP:
            since[s] = -1
            counted[s] = 0
        if not step & USE:
            continue
        beyond = v > on_value if above else v < on_value
        if beyond:
            if since[s] < 0:
                since[s] = t
                counted[s] = 0
            if counted[s] == 0 and t - since[s] >= min_ms:
                counted[s] = 1
                ring[s, head[s]] = since[s]
                head[s] = (head[s] + 1) % count
                if filled[s] < count:
                    filled[s] += 1
        else:
            since[s] = -1
            counted[s] = 0
        if filled[s] == count:
            oldest = ring[s, head[s]]  # full ring: the next to be overwritten is the oldest
            within = t - oldest <= window_ms
            if within and active[s] == 0:
                active[s] = 1
                n_ev = emit(ev, n_ev, s, FIRE, t, oldest, float(count), np.nan)
            elif not within and active[s] == 1:
                active[s] = 0
                n_ev = emit(ev, n_ev, s, CLEAR, t, oldest, float(count), np.nan)
    return n_ev


@dataclass(frozen=True)
class EpisodeParams(SampleKernel, kernel=_episodes_kernel, state=STATE):
    on_value: float
    above: bool
    min_ms: int
    count: int
    window_ms: int
    max_gap_ms: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"count must be 1..{MAX_COUNT}, got {self.count}")
