"""Maintenance plan: the manufacturer's interval by distance or by time, whichever comes first,
counted from the vehicle's last service (or its delivery).

One condition per stage: "due soon" fires `lead_km` or `lead_ms` before the interval ends,
"overdue" (leads of zero) when it has ended. Each vehicle's interval comes from its model and is
set with `plan`; its last service with `baseline`, and recording a new service clears the stage.
Odometer samples (metres) move the distance; `tick(now)` moves the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import CLEAR, FIRE, Events, SampleKernel, SlotState, Spec
from rules.kernels.config import emit, njit
from telemetry.vocabulary import DAYS_PER_MONTH

DAY_MS = 86_400_000
STATE: Spec = {
    "plan_km": (np.float64, np.nan, ()),  # nan: no plan for this vehicle
    "plan_ms": (np.float64, np.nan, ()),
    "base_ts": (np.int64, -1, ()),  # last service (or delivery), -1: unknown
    "base_km": (np.float64, np.nan, ()),
    "odo_km": (np.float64, np.nan, ()),
    "last_ts": (np.int64, -1, ()),
    "active": (np.int8, 0, ()),
    "since": (np.int64, -1, ()),
}


@njit
def _odometer_kernel(
    slot, ts, value, ev, lead_km, lead_ms, plan_km, plan_ms, base_ts, base_km, odo_km, last_ts, active, since
):
    """The newest new odometer reading of each vehicle moves its distance, then its stage."""
    slots, nows = np.empty(slot.shape[0], np.int64), np.empty(slot.shape[0], np.int64)
    m = 0
    i = 0
    while i < slot.shape[0]:
        s = slot[i]
        newest = -1
        j = i
        while j < slot.shape[0] and slot[j] == s:
            if ts[j] > last_ts[s] and not np.isnan(value[j]):
                newest = j
            j += 1
        if newest >= 0:
            last_ts[s] = ts[newest]
            odo_km[s] = value[newest] / 1000.0
            slots[m], nows[m] = s, ts[newest]
            m += 1
        i = j
    return _stage(slots[:m], nows[:m], ev, lead_km, lead_ms, plan_km, plan_ms, base_ts, base_km, odo_km, active, since)


@njit
def _calendar_kernel(now, ev, lead_km, lead_ms, plan_km, plan_ms, base_ts, base_km, odo_km, last_ts, active, since):
    slots = np.nonzero(base_ts >= 0)[0]
    nows = np.full(slots.shape[0], now, np.int64)
    return _stage(slots, nows, ev, lead_km, lead_ms, plan_km, plan_ms, base_ts, base_km, odo_km, active, since)


@njit
def _stage(slots, nows, ev, lead_km, lead_ms, plan_km, plan_ms, base_ts, base_km, odo_km, active, since):
    """Whether each vehicle's stage is due at its time (by distance or by time); emits changes.
    An event's `value` is the days and its `detail` the km since the last service."""
    n_ev = 0
    for i in range(slots.shape[0]):
        s, now = slots[i], nows[i]
        base = base_ts[s]
        km = odo_km[s] - base_km[s]
        elapsed = float(now - base)
        due = base >= 0 and (km >= plan_km[s] - lead_km or elapsed >= plan_ms[s] - lead_ms)
        if due and active[s] == 0:
            active[s] = 1
            since[s] = now
            n_ev = emit(ev, n_ev, s, FIRE, now, base, elapsed / DAY_MS, km)
        elif not due and active[s] == 1:
            active[s] = 0
            n_ev = emit(ev, n_ev, s, CLEAR, now, base, elapsed / DAY_MS, km)
    return n_ev


@dataclass(frozen=True)
class ServiceParams(SampleKernel, kernel=_odometer_kernel, state=STATE):
    """Odometer samples in metres; the newest per vehicle counts. `value` of an event is the days
    and `detail` the km since the last service."""

    lead_km: float = 0.0
    lead_ms: float = 0.0

    @staticmethod
    def plan(state: SlotState, slot: int, km: float, months: float) -> None:
        state["plan_km"][slot] = km
        state["plan_ms"][slot] = months * DAYS_PER_MONTH * DAY_MS

    @staticmethod
    def baseline(state: SlotState, slot: int, ts_ms: int, km: float) -> None:
        state["base_ts"][slot] = ts_ms
        state["base_km"][slot] = km

    def tick(self, now_ms: int, state: SlotState) -> Events:
        ev = Events.empty(len(state["base_ts"]))
        count = _calendar_kernel(int(now_ms), ev.columns(), *self.params, *state.ordered)
        return ev.head(count)
