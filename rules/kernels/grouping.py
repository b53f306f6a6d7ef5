"""The engine's one sort per batch, by signal, then vehicle slot, then time, stable (the order of
`np.lexsort((ts, slot, signal))`), in linear time for the batches the engine sees; and the
same-message lookups that sorted runs allow."""

from __future__ import annotations

import numpy as np

from rules.kernels.config import njit

KEY_BITS = 42  # epoch ms fit in 42 bits until the year 2109; slots take the bits above


def sorted_columns(
    vehicle_id: np.ndarray,
    signal: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    slot_lookup: np.ndarray,
    n_signals: int,
    n_slots: int,
    reads: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A batch's columns in (signal, slot, ts) order: vehicle ids become slots (-1: unknown, first
    within a signal), then (slot, ts, value, key, starts) where key is `slot << KEY_BITS | ts` (one
    int64 per sample for same-message lookups) and signal i's run is starts[i]:starts[i + 1].
    The order is `np.lexsort((ts, slot, signal))`'s; signal ids are in [0, n_signals). With
    `reads` (per signal id, whether anyone reads it), the samples of other signals are left out."""
    return _sorted_columns(
        np.ascontiguousarray(vehicle_id),  # int32 from a RuleBatch: no int64 copy
        np.ascontiguousarray(signal),  # int16 likewise
        np.ascontiguousarray(ts, dtype=np.int64),
        np.ascontiguousarray(value, dtype=np.float64),
        slot_lookup,
        int(n_signals),
        int(n_slots),
        np.ones(0, np.bool_) if reads is None else reads,
        reads is not None,
    )


@njit
def _sorted_columns(vehicle_id, signal, ts, value, slot_lookup, n_signals, n_slots, reads, only_read):
    """Two stable counting sorts that move the data itself, each with good locality: first by
    signal (one sequential stream per signal), then each signal's run by slot (a run fits in
    cache). Arrival order is kept within a (signal, slot) group and is nearly always time order
    already; a group that is not gets a stable sort of its own."""
    n = vehicle_id.shape[0]
    read = np.ones(n_signals, np.bool_)
    if only_read:
        for k in range(n_signals):
            read[k] = k < reads.shape[0] and reads[k]
    starts = np.zeros(n_signals + 1, np.int64)
    for i in range(n):
        if read[signal[i]]:
            starts[signal[i] + 1] += 1
    for k in range(n_signals):
        starts[k + 1] += starts[k]
    n = starts[n_signals]
    by_slot, by_ts, by_value = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64)
    fill = starts[:-1].copy()
    for i in range(vehicle_id.shape[0]):
        v, k = vehicle_id[i], signal[i]
        if not read[k]:
            continue
        p = fill[k]
        fill[k] += 1
        by_slot[p] = slot_lookup[v] if 0 <= v < slot_lookup.shape[0] else -1
        by_ts[p], by_value[p] = ts[i], value[i]
    out_slot, out_ts, out_value = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.float64)
    key = np.empty(n, np.int64)
    counts = np.empty(n_slots + 2, np.int64)  # slot -1 -> 0
    for k in range(n_signals):
        lo, hi = starts[k], starts[k + 1]
        if 4 * (hi - lo) < n_slots:  # a short run among many vehicles: a comparison sort is cheaper
            inner = np.argsort(by_slot[lo:hi], kind="mergesort")
            for j in range(hi - lo):
                s, t = by_slot[lo + inner[j]], by_ts[lo + inner[j]]
                out_slot[lo + j], out_ts[lo + j], out_value[lo + j] = s, t, by_value[lo + inner[j]]
                key[lo + j] = (s << KEY_BITS) | t
            continue
        counts[:] = 0
        for p in range(lo, hi):
            counts[by_slot[p] + 2] += 1
        for b in range(n_slots + 1):
            counts[b + 1] += counts[b]
        for p in range(lo, hi):
            s, t = by_slot[p], by_ts[p]
            q = lo + counts[s + 1]
            counts[s + 1] += 1
            out_slot[q], out_ts[q], out_value[q] = s, t, by_value[p]
            key[q] = (s << KEY_BITS) | t
    for k in range(n_signals):
        lo, hi = starts[k], starts[k + 1]
        j = lo + 1
        while j < hi:
            if key[j] < key[j - 1]:  # slots ascend, so: one vehicle's sample out of time order
                j = _sort_group_by_time(out_slot, out_ts, out_value, key, lo, hi, j)
            else:
                j += 1
    return out_slot, out_ts, out_value, key, starts


@njit
def _sort_group_by_time(slot, ts, value, key, run_lo, run_hi, inside):
    """Stable sort by time of the group of `inside`'s slot within the signal's run
    [run_lo, run_hi); returns the index after the group."""
    lo, hi = inside, inside + 1
    while lo > run_lo and slot[lo - 1] == slot[inside]:
        lo -= 1
    while hi < run_hi and slot[hi] == slot[inside]:
        hi += 1
    inner = np.argsort(ts[lo:hi], kind="mergesort")
    group_ts, group_value = ts[lo:hi][inner], value[lo:hi][inner]
    for j in range(hi - lo):
        ts[lo + j], value[lo + j] = group_ts[j], group_value[j]
        key[lo + j] = (slot[lo + j] << KEY_BITS) | group_ts[j]
    return hi


def first_per_step(slot: np.ndarray, ts: np.ndarray, step_ms: int, applies: np.ndarray | None) -> np.ndarray:
    """Indices of each vehicle's first sample in each `step_ms` step of time, of the vehicles
    `applies` (per slot) takes; `slot` and `ts` in (slot, ts) order, as every run is. A compound
    rule's SEEN events: one per step keeps a sampled condition known."""
    scope = np.ones(0, np.bool_) if applies is None else applies
    return _first_per_step(slot, ts, int(step_ms), scope, applies is not None)


@njit
def _first_per_step(slot, ts, step_ms, applies, use_scope):
    out = np.empty(slot.shape[0], np.int64)
    count = 0
    previous, step_lo, step_hi = -1, 0, 0  # the previous sample's vehicle and step
    for i in range(slot.shape[0]):
        s, t = slot[i], ts[i]
        if i > 0 and s == previous and step_lo <= t < step_hi:
            continue
        previous, step_lo = s, (t // step_ms) * step_ms  # 64-bit divisions per step, not per sample
        step_hi = step_lo + step_ms
        if use_scope and not applies[s]:
            continue
        out[count] = i
        count += 1
    return out[:count]


def merge_lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """values[i] where keys[i] == wanted[j], NaN where no key matches; both key arrays ascending
    (a signal's run, keyed by slot and time). One linear pass, as in a merge join."""
    return _merge_lookup(keys, values, np.ascontiguousarray(wanted, dtype=np.int64))


@njit
def _merge_lookup(keys, values, wanted):
    out = np.full(wanted.shape[0], np.nan)
    i = 0
    for j in range(wanted.shape[0]):
        w = wanted[j]
        while i < keys.shape[0] and keys[i] < w:
            i += 1
        if i < keys.shape[0] and keys[i] == w:
            out[j] = values[i]
    return out
