"""DTC present: a diagnostic trouble code is in the vehicle's reported list.

The DTC signal arrives as one row per code of a report (rows sharing the vehicle and time), an
empty report being one NaN row; codes are numbers (`telemetry.dtc.encode`). A report holding the
code fires; `clear_after` consecutive reports without it clear (a code that comes and goes does
not flap). A report not newer than the vehicle's last one is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rules.kernels.base import SampleKernel, Spec
from rules.kernels.config import emit, njit

STATE: Spec = {
    "last_ts": (np.int64, -1, ()),
    "active": (np.int8, 0, ()),
    "since": (np.int64, -1, ()),
    "absent": (np.int32, 0, ()),  # consecutive reports without the code while active
}


@njit
def _dtc_kernel(slot, ts, value, ev, code, clear_after, last_ts, active, since, absent):
    n_ev = 0
    n = slot.shape[0]
    i = 0
    while i < n:
        s = slot[i]
        t = ts[i]
        j = i
        present = False
        while j < n and slot[j] == s and ts[j] == t:
            if value[j] == code:
                present = True
            j += 1
        if t > last_ts[s]:
            last_ts[s] = t
            if present:
                absent[s] = 0
                if active[s] == 0:
                    active[s] = 1
                    since[s] = t
                    n_ev = emit(ev, n_ev, s, 1, t, t, code, np.nan)
            elif active[s] == 1:
                absent[s] += 1
                if absent[s] >= clear_after:
                    active[s] = 0
                    absent[s] = 0
                    n_ev = emit(ev, n_ev, s, 2, t, since[s], code, np.nan)
        i = j
    return n_ev


@dataclass(frozen=True)
class DtcParams(SampleKernel, kernel=_dtc_kernel, state=STATE):
    """Events carry the code as `value` and the number of reports seen with it as `detail`."""

    code: float  # telemetry.dtc.encode(...)
    clear_after: int = 1
