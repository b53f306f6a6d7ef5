"""Maintenance plan: the manufacturer's interval by distance or by time, whichever comes first,
counted from the vehicle's last service (or its delivery).

One condition per stage: "due soon" fires `lead_km` or `lead_ms` before the interval ends,
"overdue" (leads of zero) when it has ended. Each vehicle's interval comes from its model and is
set with `plan`; its last service with `baseline`, and recording a new service clears the stage.
Odometer samples (metres) move the distance; `tick(now)` moves the calendar. Plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import CLEAR, FIRE, Events, SlotState, Spec
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


@dataclass(frozen=True)
class ServiceParams:
    lead_km: float = 0.0
    lead_ms: int = 0

    def new_state(self, slots: int) -> SlotState:
        return SlotState(STATE, slots)

    @staticmethod
    def plan(state: SlotState, slot: int, km: float, months: float) -> None:
        state["plan_km"][slot] = km
        state["plan_ms"][slot] = months * DAYS_PER_MONTH * DAY_MS

    @staticmethod
    def baseline(state: SlotState, slot: int, ts_ms: int, km: float) -> None:
        state["base_ts"][slot] = ts_ms
        state["base_km"][slot] = km

    def evaluate(
        self, slot: np.ndarray, ts: np.ndarray, value: np.ndarray, state: SlotState, *, presorted: bool = False
    ) -> Events:
        """Odometer samples in metres; the newest per vehicle counts."""
        last = state["last_ts"]
        slot = np.asarray(slot, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        keep = (ts > last[slot]) & ~np.isnan(value)
        s, t, v = slot[keep], ts[keep], np.asarray(value)[keep]
        if not presorted:
            order = np.lexsort((t, s))
            s, t, v = s[order], t[order], v[order]
        newest = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)
        s, t, v = s[newest], t[newest], v[newest]
        last[s] = t
        state["odo_km"][s] = v / 1000.0
        return self._check(s, t, state)

    def tick(self, now_ms: int, state: SlotState) -> Events:
        slots = np.flatnonzero(state["base_ts"] >= 0)
        return self._check(slots, np.full(len(slots), now_ms, dtype=np.int64), state)

    def _check(self, slots: np.ndarray, now: np.ndarray, state: SlotState) -> Events:
        """`value` is the days and `detail` the km since the last service."""
        base_ts, active = state["base_ts"][slots], state["active"][slots]
        km = state["odo_km"][slots] - state["base_km"][slots]
        elapsed = (now - base_ts).astype(np.float64)
        with np.errstate(invalid="ignore"):
            due = (base_ts >= 0) & (
                (km >= state["plan_km"][slots] - self.lead_km) | (elapsed >= state["plan_ms"][slots] - self.lead_ms)
            )
        fire, clear = due & (active == 0), ~due & (active == 1)
        changed = fire | clear
        ev = Events.empty(int(changed.sum()))
        ev.slot[:] = slots[changed]
        ev.kind[:] = np.where(fire[changed], FIRE, CLEAR)
        ev.ts[:] = now[changed]
        ev.since[:] = base_ts[changed]
        ev.value[:] = elapsed[changed] / DAY_MS
        ev.detail[:] = km[changed]
        state["active"][slots[fire]] = 1
        state["active"][slots[clear]] = 0
        state["since"][slots[fire]] = now[fire]
        return ev
