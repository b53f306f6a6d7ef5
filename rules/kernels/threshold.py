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

from rules.kernels.config import njit

FIRE = 1
CLEAR = 2
_STATE_FIELDS = ("last_ts", "since", "clear_since", "active", "peak")


@dataclass
class ThresholdParams:
    on_value: float
    on_ms: int
    off_value: float
    off_ms: int
    max_gap_ms: int
    above: bool = True


@dataclass
class ThresholdState:
    """Per-slot state in dense arrays; a slot is a vehicle's index in its rule worker."""

    last_ts: np.ndarray  # int64, -1: no sample yet
    since: np.ndarray  # int64, start of the current run beyond on_value, -1: none
    clear_since: np.ndarray  # int64, start of the current run on the safe side while active, -1: none
    active: np.ndarray  # int8
    peak: np.ndarray  # float64, worst value of the current run/episode

    @classmethod
    def empty(cls, slots: int) -> ThresholdState:
        return cls(
            np.full(slots, -1, np.int64),
            np.full(slots, -1, np.int64),
            np.full(slots, -1, np.int64),
            np.zeros(slots, np.int8),
            np.full(slots, np.nan),
        )

    def grow(self, slots: int) -> ThresholdState:
        if slots <= len(self.last_ts):
            return self
        bigger = ThresholdState.empty(slots)
        for name in _STATE_FIELDS:
            getattr(bigger, name)[: len(self.last_ts)] = getattr(self, name)
        return bigger

    def copy(self) -> ThresholdState:
        return ThresholdState(*(getattr(self, n).copy() for n in _STATE_FIELDS))


@dataclass
class Events:
    slot: np.ndarray
    kind: np.ndarray  # FIRE or CLEAR
    ts: np.ndarray  # when it fired/cleared
    since: np.ndarray  # start of the run that made it fire/clear
    peak: np.ndarray  # worst value in the episode

    def __len__(self) -> int:
        return len(self.slot)


@njit
def _threshold_kernel(
    slot,
    ts,
    value,
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
    ev_slot,
    ev_kind,
    ev_ts,
    ev_since,
    ev_peak,
):
    n_ev = 0
    for i in range(slot.shape[0]):
        s = slot[i]
        t = ts[i]
        v = value[i]
        if t <= last_ts[s]:
            continue
        if last_ts[s] >= 0 and t - last_ts[s] > max_gap_ms:
            since[s] = -1
            clear_since[s] = -1
        last_ts[s] = t
        if np.isnan(v):
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
                    ev_slot[n_ev] = s
                    ev_kind[n_ev] = 1
                    ev_ts[n_ev] = t
                    ev_since[n_ev] = since[s]
                    ev_peak[n_ev] = peak[s]
                    n_ev += 1
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
                    ev_slot[n_ev] = s
                    ev_kind[n_ev] = 2
                    ev_ts[n_ev] = t
                    ev_since[n_ev] = clear_since[s]
                    ev_peak[n_ev] = peak[s]
                    n_ev += 1
                    since[s] = -1
                    clear_since[s] = -1
            else:
                clear_since[s] = -1
    return n_ev


def evaluate_threshold(
    slot: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    params: ThresholdParams,
    state: ThresholdState,
    *,
    presorted: bool = False,
) -> Events:
    """Run one signal's samples through the rule; updates `state` in place.
    Samples may come in any order; callers that already sorted by (slot, ts) say `presorted`."""
    if presorted:
        slot_s, ts_s, value_s = slot, ts, value
    else:
        order = np.lexsort((ts, slot))
        slot_s, ts_s, value_s = slot[order], ts[order], value[order]
    slot_s = np.ascontiguousarray(slot_s, dtype=np.int64)
    ts_s = np.ascontiguousarray(ts_s, dtype=np.int64)
    value_s = np.ascontiguousarray(value_s, dtype=np.float64)
    n = len(slot_s)
    ev = Events(
        np.empty(n, np.int64),
        np.empty(n, np.int8),
        np.empty(n, np.int64),
        np.empty(n, np.int64),
        np.empty(n, np.float64),
    )
    count = _threshold_kernel(
        slot_s,
        ts_s,
        value_s,
        float(params.on_value),
        int(params.on_ms),
        float(params.off_value),
        int(params.off_ms),
        int(params.max_gap_ms),
        bool(params.above),
        state.last_ts,
        state.since,
        state.clear_since,
        state.active,
        state.peak,
        ev.slot,
        ev.kind,
        ev.ts,
        ev.since,
        ev.peak,
    )
    return Events(ev.slot[:count], ev.kind[:count], ev.ts[:count], ev.since[:count], ev.peak[:count])
