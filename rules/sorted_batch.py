"""One batch, sorted once for every rule: by (signal, slot, time), so that each condition's kernel
reads its signal's contiguous run, and gates and inputs look up the same message's other values."""

from __future__ import annotations

import numpy as np

from rules.kernels.grouping import group_order, merge_lookup
from telemetry.rulebatch import RuleBatch

_TS_BITS = 42  # epoch ms fit in 42 bits until the year 2109; slots take the bits above


class SortedBatch:
    """A batch sorted by (signal, slot, ts), with per-signal runs and same-message lookups."""

    def __init__(self, batch: RuleBatch, slot_lookup: np.ndarray, n_slots: int) -> None:
        vid = batch.vehicle_id.astype(np.int64)
        known = (vid >= 0) & (vid < len(slot_lookup))
        slots = np.full(len(vid), -1, dtype=np.int64)
        slots[known] = slot_lookup[vid[known]]
        n_signals = int(batch.signal.max()) + 1 if len(batch) else 0
        order = group_order(batch.signal, slots, batch.ts, n_signals, n_slots)
        self.slot, self.ts = slots[order], batch.ts[order].astype(np.int64)
        self.signal, self.value = batch.signal[order], batch.value[order]
        self.key = (self.slot << _TS_BITS) | self.ts
        self._starts = np.searchsorted(self.signal, np.arange(n_signals + 1))  # run of signal i: [i], [i + 1]
        self._unknown = bool((self.slot < 0).any())
        self._lookups: dict[tuple[int, int], np.ndarray] = {}

    def lookup_in_run(self, signal_id: int, run_signal_id: int) -> np.ndarray:
        """`lookup` of a signal for every sample of another signal's run, computed once a batch
        (rules on the same signal often share a gate or an input)."""
        key = (signal_id, run_signal_id)
        if key not in self._lookups:
            slot, ts, _ = self.run(run_signal_id)
            self._lookups[key] = self.lookup(signal_id, slot, ts)
        return self._lookups[key]

    def bounds(self, signal_id: int) -> tuple[int, int]:
        if signal_id + 1 >= len(self._starts):
            return 0, 0
        lo, hi = int(self._starts[signal_id]), int(self._starts[signal_id + 1])
        if self._unknown:
            lo += int(np.searchsorted(self.slot[lo:hi], 0))  # unknown vehicles (slot -1) sort first
        return lo, hi

    def run(self, signal_id: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slot, ts, value) of one signal, sorted by (slot, ts); of every signal when None."""
        if signal_id is None:
            if not self._unknown:
                return self.slot, self.ts, self.value
            known = self.slot >= 0
            return self.slot[known], self.ts[known], self.value[known]
        lo, hi = self.bounds(signal_id)
        return self.slot[lo:hi], self.ts[lo:hi], self.value[lo:hi]

    def lookup(self, signal_id: int, slot: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """The signal's value in the same message (same vehicle and time); NaN where absent.
        `slot` and `ts` must be in (slot, ts) order, as every run is."""
        lo, hi = self.bounds(signal_id)
        want = (slot.astype(np.int64) << _TS_BITS) | ts
        return merge_lookup(self.key[lo:hi], self.value[lo:hi], want)
