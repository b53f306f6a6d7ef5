"""Anomaly: an online EWMA mean and variance per vehicle, and a z-score against it.

After `warmup` samples, a sample more than `z_on` standard deviations from the vehicle's own
mean is anomalous; `min_run` anomalous samples in a row fire (so a lone spike from a flaky
sensor does not), and `clear_run` samples in a row within `z_off` clear. Anomalous samples do
not move the baseline, so a fault does not teach the model that it is normal. `min_sd` floors
the deviation so a very steady signal does not turn noise into huge scores. A silence longer
than `max_gap_ms` restarts the runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rules.kernels.base import SampleKernel, Spec
from rules.kernels.config import GAP, USE, admit, emit, njit

STATE: Spec = {
    "last_ts": (np.int64, -1, ()),
    "n": (np.int64, 0, ()),  # samples taken into the baseline
    "mean": (np.float64, 0.0, ()),
    "var": (np.float64, 0.0, ()),
    "run": (np.int32, 0, ()),  # anomalous samples in a row (or normal ones, while active)
    "run_since": (np.int64, -1, ()),
    "active": (np.int8, 0, ()),
    "since": (np.int64, -1, ()),
    "peak_z": (np.float64, np.nan, ()),
}


def signed_z(v: float, mean: float, var: float, min_sd: float, direction: int) -> float:
    """The score compared with the limits: |z|, or z on the watched side (negative elsewhere)."""
    z = (v - mean) / max(math.sqrt(var), min_sd)
    return abs(z) if direction == 0 else z * direction


_signed_z = njit(signed_z)


@njit
def _zscore_kernel(
    slot,
    ts,
    value,
    ev,
    alpha,
    z_on,
    z_off,
    warmup,
    min_run,
    clear_run,
    min_sd,
    max_gap_ms,
    direction,
    last_ts,
    n,
    mean,
    var,
    run,
    run_since,
    active,
    since,
    peak_z,
):
    n_ev = 0
    for i in range(slot.shape[0]):
        s, t, v, step = admit(i, slot, ts, value, last_ts, max_gap_ms)
        if step & GAP:
            run[s] = 0
        if not step & USE:
            continue
        anomalous = False
        if n[s] >= warmup:
            z = _signed_z(v, mean[s], var[s], min_sd, direction)
            anomalous = z > z_on
            if active[s] == 0:
                if anomalous:
                    if run[s] == 0:
                        run_since[s] = t
                        peak_z[s] = z
                    elif z > peak_z[s]:
                        peak_z[s] = z
                    run[s] += 1
                    if run[s] >= min_run:
                        active[s] = 1
                        since[s] = run_since[s]
                        run[s] = 0
                        n_ev = emit(ev, n_ev, s, 1, t, since[s], peak_z[s], mean[s])
                else:
                    run[s] = 0
            else:
                if z > peak_z[s]:
                    peak_z[s] = z
                if z < z_off:
                    if run[s] == 0:
                        run_since[s] = t
                    run[s] += 1
                    if run[s] >= clear_run:
                        active[s] = 0
                        run[s] = 0
                        n_ev = emit(ev, n_ev, s, 2, t, run_since[s], peak_z[s], mean[s])
                else:
                    run[s] = 0
        if not anomalous:
            if n[s] == 0:
                mean[s] = v
                var[s] = 0.0
            else:
                diff = v - mean[s]
                incr = alpha * diff
                mean[s] += incr
                var[s] = (1.0 - alpha) * (var[s] + diff * incr)
            n[s] += 1
    return n_ev


@dataclass(frozen=True)
class ZScoreParams(SampleKernel, kernel=_zscore_kernel, state=STATE):
    """Events carry the episode's largest z-score as `value` and the baseline mean as `detail`."""

    alpha: float  # EWMA weight of a new sample
    z_on: float
    z_off: float
    warmup: int
    min_run: int
    clear_run: int
    min_sd: float
    max_gap_ms: int
    direction: int = 0  # 1: only above the mean, -1: only below, 0: both
