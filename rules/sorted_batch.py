"""One batch, sorted once for every rule: by (signal, slot, time), so that each condition's kernel
reads its signal's contiguous run, and gates and inputs look up the same message's other values."""

from __future__ import annotations

import numpy as np

from rules.kernels.grouping import KEY_BITS, merge_lookup, sorted_columns
from telemetry.rulebatch import RuleBatch


class SortedBatch:
    """A batch sorted by (signal, slot, ts), with per-signal runs and same-message lookups."""

    def __init__(
        self, batch: RuleBatch, slot_lookup: np.ndarray, n_slots: int, reads: np.ndarray | None = None
    ) -> None:
        """`reads`: per signal id, whether a rule reads it; the others' samples are left out."""
        n_signals = int(batch.signal.max()) + 1 if len(batch) else 0
        self.slot, self.ts, self.value, self.key, self._starts = sorted_columns(
            batch.vehicle_id, batch.signal, batch.ts, batch.value, slot_lookup, n_signals, n_slots, reads
        )
        # unknown vehicles (slot -1) sort first in each signal's run
        runs = self._starts[:-1][np.diff(self._starts) > 0]
        self._unknown = bool((self.slot[runs] < 0).any())
        self._lookups: dict[tuple[int, int], np.ndarray] = {}
        self._bounds: dict[int, tuple[int, int]] = {}

    def signals(self) -> set[int]:
        """The ids of the signals this batch has samples of."""
        return set(np.flatnonzero(np.diff(self._starts)).tolist())

    def lookup_in_run(self, signal_id: int, run_signal_id: int) -> np.ndarray:
        """`lookup` of a signal for every sample of another signal's run, computed once a batch
        (rules on the same signal often share a gate or an input)."""
        key = (signal_id, run_signal_id)
        if key not in self._lookups:
            lo, hi = self.bounds(run_signal_id)
            self._lookups[key] = self._lookup(signal_id, self.key[lo:hi])
        return self._lookups[key]

    def bounds(self, signal_id: int) -> tuple[int, int]:
        """Where the signal's run of known vehicles is."""
        found = self._bounds.get(signal_id)
        if found is None:
            if signal_id + 1 >= len(self._starts):
                found = (0, 0)
            else:
                lo, hi = int(self._starts[signal_id]), int(self._starts[signal_id + 1])
                if self._unknown:
                    lo += int(np.searchsorted(self.slot[lo:hi], 0))  # unknown vehicles (slot -1) sort first
                found = (lo, hi)
            self._bounds[signal_id] = found
        return found

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
        return self._lookup(signal_id, (slot.astype(np.int64) << KEY_BITS) | ts)

    def _lookup(self, signal_id: int, wanted: np.ndarray) -> np.ndarray:
        lo, hi = self.bounds(signal_id)
        return merge_lookup(self.key[lo:hi], self.value[lo:hi], wanted)
