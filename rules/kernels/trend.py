"""Trend to a limit: when will the value reach it? (remaining useful life)

Samples are averaged into buckets of `step_ms` (a day, say); the last `window` bucket means form
a sliding window with a robust Theil-Sen fit (median of pairwise slopes), which a few outliers
cannot tip. When a bucket closes and the window holds at least `min_points`, the fit projects
when the line crosses `limit`: within `horizon_ms` fires, beyond `clear_horizon_ms` clears.
A bucket closes when the first sample of a later bucket arrives, so results do not depend on how
the stream is cut into batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import SampleKernel, Spec
from rules.kernels.config import NO_GAP, USE, admit, emit, njit

NEVER = np.inf  # projected date when the trend does not head for the limit


def theil_sen(t: np.ndarray, v: np.ndarray, scratch: np.ndarray) -> tuple[float, float]:
    """(slope, intercept): the median of pairwise slopes, and the median of v - slope * t."""
    m = 0
    k = t.shape[0]
    for a in range(k):
        for b in range(a + 1, k):
            if t[b] != t[a]:
                scratch[m] = (v[b] - v[a]) / (t[b] - t[a])
                m += 1
    if m == 0:
        return 0.0, np.nan
    slope = np.median(scratch[:m])
    return slope, np.median(v - slope * t)


def projection(t_now: float, level: float, slope: float, limit: float, falling: bool) -> float:
    """When the fitted line reaches the limit: now if it is there already, inf if it heads away."""
    if (falling and level <= limit) or (not falling and level >= limit):
        return t_now
    if (falling and slope >= 0.0) or (not falling and slope <= 0.0):
        return np.inf
    return t_now + (limit - level) / slope


_theil_sen = njit(theil_sen)
_projection = njit(projection)


@njit
def _trend_kernel(
    slot,
    ts,
    value,
    ev,
    limit,
    falling,
    step_ms,
    window,
    min_points,
    horizon_ms,
    clear_horizon_ms,
    last_ts,
    bucket,
    bucket_sum,
    bucket_ts_sum,
    bucket_n,
    points_ts,
    points_v,
    count,
    active,
    since,
    projected,
):
    n_ev = 0
    scratch = np.empty(window * (window - 1) // 2 + 1)
    t_win = np.empty(window)
    v_win = np.empty(window)
    for i in range(slot.shape[0]):
        s, t, v, step = admit(i, slot, ts, value, last_ts, NO_GAP)
        if not step & USE:
            continue
        b = t // step_ms
        if b != bucket[s] and bucket_n[s] > 0:
            pos = count[s] % window
            points_ts[s, pos] = bucket[s] * step_ms + bucket_ts_sum[s] / bucket_n[s]
            points_v[s, pos] = bucket_sum[s] / bucket_n[s]
            count[s] += 1
            bucket_sum[s] = 0.0
            bucket_ts_sum[s] = 0.0
            bucket_n[s] = 0
            k = min(count[s], window)
            if k >= min_points:
                for j in range(k):  # oldest first, so results do not depend on the ring's head
                    src = (count[s] - k + j) % window
                    t_win[j] = points_ts[s, src]
                    v_win[j] = points_v[s, src]
                slope, intercept = _theil_sen(t_win[:k], v_win[:k], scratch)
                t_now = t_win[k - 1]
                level = intercept + slope * t_now
                when = _projection(t_now, level, slope, limit, falling)
                projected[s] = when
                left = when - t_now
                if active[s] == 0 and left <= horizon_ms:
                    active[s] = 1
                    since[s] = t
                    n_ev = emit(ev, n_ev, s, 1, t, t, level, when)
                elif active[s] == 1 and left > clear_horizon_ms:
                    active[s] = 0
                    n_ev = emit(ev, n_ev, s, 2, t, since[s], level, when)
        bucket[s] = b
        bucket_sum[s] += v
        bucket_ts_sum[s] += t - b * step_ms
        bucket_n[s] += 1
    return n_ev


@dataclass(frozen=True)
class TrendParams(SampleKernel, kernel=_trend_kernel):
    """Events carry the fitted current level as `value` and the projected date (epoch ms, inf:
    never) as `detail`."""

    limit: float
    falling: bool  # True: the value falls towards the limit (pad wear, state of health, voltage)
    step_ms: int
    window: int
    min_points: int
    horizon_ms: int
    clear_horizon_ms: int

    def state_spec(self) -> Spec:
        return {
            "last_ts": (np.int64, -1, ()),
            "bucket": (np.int64, -1, ()),  # index of the open bucket, -1: none
            "bucket_sum": (np.float64, 0.0, ()),
            "bucket_ts_sum": (np.float64, 0.0, ()),  # of times since the bucket start
            "bucket_n": (np.int64, 0, ()),
            "points_ts": (np.float64, np.nan, (self.window,)),  # ring of closed buckets' mean time
            "points_v": (np.float64, np.nan, (self.window,)),
            "count": (np.int64, 0, ()),  # closed buckets so far (the ring holds the last `window`)
            "active": (np.int8, 0, ()),
            "since": (np.int64, -1, ()),
            "projected": (np.float64, np.nan, ()),  # epoch ms when the limit is reached
        }
