"""Stale vehicle: no telemetry for longer than `after_ms` from a vehicle that has reported before.

Silence can only be seen against a clock, so this condition fires from `tick(now)` (the wall
clock live, the data's clock in a backtest) and clears at the first sample after the silence.
Plain numpy: the work is one pass over the slots per tick, nothing per sample but a maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import CLEAR, FIRE, Events, SlotState, Spec

STATE: Spec = {
    "last_ts": (np.int64, -1, ()),  # newest sample of any signal, -1: never reported
    "active": (np.int8, 0, ()),
    "since": (np.int64, -1, ()),
}


@dataclass(frozen=True)
class StaleParams:
    after_ms: int

    def new_state(self, slots: int) -> SlotState:
        return SlotState(STATE, slots)

    def evaluate(
        self, slot: np.ndarray, ts: np.ndarray, value: np.ndarray, state: SlotState, *, presorted: bool = False
    ) -> Events:
        """Samples of any signal, in any order. Clears carry the silence in ms as `value`."""
        del value, presorted
        last, active = state["last_ts"], state["active"]
        slot = np.asarray(slot, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        fresh = ts > last[slot]
        first_new = np.full(len(last), np.iinfo(np.int64).max)
        np.minimum.at(first_new, slot[fresh], ts[fresh])
        newest = np.full(len(last), -1, dtype=np.int64)
        np.maximum.at(newest, slot[fresh], ts[fresh])
        back = np.flatnonzero((newest >= 0) & (active == 1))
        events = _events(back, CLEAR, first_new[back], state["since"][back], (first_new[back] - last[back]))
        active[back] = 0
        np.maximum(last, newest, out=last)
        return events

    def tick(self, now_ms: int, state: SlotState) -> Events:
        """Fire for every vehicle silent for longer than `after_ms`; `value` is the silence in ms."""
        last, active = state["last_ts"], state["active"]
        silent = np.flatnonzero((last >= 0) & (active == 0) & (now_ms - last > self.after_ms))
        active[silent] = 1
        state["since"][silent] = last[silent]
        return _events(silent, FIRE, np.full(len(silent), now_ms), last[silent], now_ms - last[silent])


def _events(slots: np.ndarray, kind: int, ts: np.ndarray, since: np.ndarray, value: np.ndarray) -> Events:
    ev = Events.empty(len(slots))
    ev.slot[:] = slots
    ev.kind[:] = kind
    ev.ts[:] = ts
    ev.since[:] = since
    ev.value[:] = value
    return ev
