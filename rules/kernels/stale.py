"""Stale vehicle: no telemetry for longer than `after_ms` from a vehicle that has reported before.

Silence can only be seen against a clock, so this condition fires from `tick(now)` (the wall
clock live, the data's clock in a backtest) and clears at the first sample after the silence.
The tick is plain numpy (one pass over the slots); per sample there is only a minimum and a maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import CLEAR, FIRE, Events, SlotState, Spec
from rules.kernels.config import njit

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
        first_new, newest = _fresh_range(
            np.ascontiguousarray(slot, dtype=np.int64), np.ascontiguousarray(ts, dtype=np.int64), last
        )
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


@njit
def _fresh_range(slot, ts, last):
    """Per slot, the first and the newest time after its last sample (-1 newest: nothing new).
    A loop, because numpy's `minimum.at` is slow for this."""
    first_new = np.full(last.shape[0], np.iinfo(np.int64).max)
    newest = np.full(last.shape[0], -1)
    for i in range(slot.shape[0]):
        s = slot[i]
        t = ts[i]
        if t > last[s]:
            if t < first_new[s]:
                first_new[s] = t
            if t > newest[s]:
                newest[s] = t
    return first_new, newest


def _events(slots: np.ndarray, kind: int, ts: np.ndarray, since: np.ndarray, value: np.ndarray) -> Events:
    ev = Events.empty(len(slots))
    ev.slot[:] = slots
    ev.kind[:] = kind
    ev.ts[:] = ts
    ev.since[:] = since
    ev.value[:] = value
    ev.detail[:] = np.nan
    return ev
