"""Slow, obvious reference implementations of the numba kernels, one vehicle at a time."""

from __future__ import annotations

import math

from rules.kernels.threshold import ThresholdParams


def threshold_reference(samples: list[tuple[int, int, float]], params: ThresholdParams) -> list[tuple]:
    """samples: (slot, ts, value) in any order -> events (slot, kind, ts, since, peak), kernel order."""
    by_slot: dict[int, list[tuple[int, float]]] = {}
    for slot, ts, value in sorted(samples, key=lambda s: (s[0], s[1])):
        by_slot.setdefault(slot, []).append((ts, value))
    events = []
    for slot in sorted(by_slot):
        last = None
        since = clear_since = None
        active = False
        peak = math.nan

        def worse(a: float, b: float) -> bool:
            return a > b if params.above else a < b

        for ts, v in by_slot[slot]:
            if last is not None and ts <= last:
                continue
            if last is not None and ts - last > params.max_gap_ms:
                since = clear_since = None
            last = ts
            if math.isnan(v):
                continue
            beyond = worse(v, params.on_value)
            safe = v < params.off_value if params.above else v > params.off_value
            if not active:
                if not beyond:
                    since = None
                    continue
                if since is None:
                    since, peak = ts, v
                elif worse(v, peak):
                    peak = v
                if ts - since >= params.on_ms:
                    active, clear_since = True, None
                    events.append((slot, 1, ts, since, peak))
            else:
                if worse(v, peak):
                    peak = v
                if not safe:
                    clear_since = None
                    continue
                if clear_since is None:
                    clear_since = ts
                if ts - clear_since >= params.off_ms:
                    events.append((slot, 2, ts, clear_since, peak))
                    active, since, clear_since = False, None, None
    return events
