"""The engine's one sort per batch: by signal, then vehicle slot, then time, stable.

The same permutation as `np.lexsort((ts, slot, signal))`, found in linear time for the batches the
engine sees: counting sorts by (signal, slot) keep arrival order within each (signal, slot)
group, and arrival order is nearly always time order already; a group that is not gets a stable
merge sort of its own.
"""

from __future__ import annotations

import numpy as np

from rules.kernels.config import njit


def group_order(signal: np.ndarray, slot: np.ndarray, ts: np.ndarray, n_signals: int, n_slots: int) -> np.ndarray:
    """Order by (signal, slot, ts); slots of -1 (unknown vehicles) sort first within a signal."""
    return _group_order(
        np.ascontiguousarray(signal, dtype=np.int64),
        np.ascontiguousarray(slot, dtype=np.int64),
        np.ascontiguousarray(ts, dtype=np.int64),
        int(n_signals),
        int(n_slots),
    )


@njit
def _counting_order(keys, order_in, n_keys):
    """Stable counting sort of `order_in` by keys[order_in] (0 <= key < n_keys)."""
    counts = np.zeros(n_keys + 1, np.int64)
    for i in order_in:
        counts[keys[i] + 1] += 1
    for k in range(n_keys):
        counts[k + 1] += counts[k]
    out = np.empty(order_in.shape[0], np.int64)
    for i in order_in:
        k = keys[i]
        out[counts[k]] = i
        counts[k] += 1
    return out


@njit
def _group_order(signal, slot, ts, n_signals, n_slots):
    n = signal.shape[0]
    width = n_slots + 1  # slot -1 -> 0
    if n_signals * width <= 4 * n:  # few enough (signal, slot) pairs: one counting sort on both
        order = _counting_order(signal * width + slot + 1, np.arange(n), n_signals * width)
    else:
        order = _counting_order(slot + 1, np.arange(n), width)
        order = _counting_order(signal, order, n_signals)
    start = 0
    while start < n:
        end = start + 1
        first = order[start]
        ordered = True
        while end < n and signal[order[end]] == signal[first] and slot[order[end]] == slot[first]:
            if ts[order[end]] < ts[order[end - 1]]:
                ordered = False
            end += 1
        if not ordered:
            group = order[start:end].copy()
            inner = np.argsort(ts[group], kind="mergesort")
            for j in range(end - start):
                order[start + j] = group[inner[j]]
        start = end
    return order


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
