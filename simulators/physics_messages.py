"""What a simulated vehicle sends: each message's signals from its state (with sensor noise,
dropouts and the flaky sensor's glitches), the trouble codes its ECUs set, and how far its fault
has progressed."""

from __future__ import annotations

import math

import numpy as np

from rules.kernels.config import njit
from simulators.physics_layout import *  # noqa: F403 - the arrays' layout, as numba constants
from simulators.physics_layout import _normal, _uniform


@njit
def _progress(st, pr, i, t):
    """How far the vehicle's fault has gone: 0 at onset, 1 at the nominal failure point; 0 when
    there is none, it has not started or it has been repaired."""
    if pr[i, P_FAULT] == F_NONE or st[i, S_REPAIRED] > 0.0 or t < pr[i, P_ONSET]:
        return 0.0
    return (t - pr[i, P_ONSET]) * pr[i, P_RATE]


@njit
def _failed(st, i, t):
    if np.isnan(st[i, S_FAILED]):
        st[i, S_FAILED] = t


@njit
def _sensor_glitch(st, pr, rng, i, t, sensor, value):
    """An intermittent sensor: isolated spikes and short dropouts (NaN: not reported)."""
    if pr[i, P_FAULT] != F_SENSOR or int(pr[i, P_COMPONENT]) != sensor:
        return value
    if t < pr[i, P_ONSET] or t >= pr[i, P_FAULT_ARG]:
        return value
    if st[i, S_DROPOUT] > 0.0:
        st[i, S_DROPOUT] -= 1.0
        return np.nan
    u = _uniform(rng, i)
    if u < 0.015:
        if sensor == SENSOR_COOLANT:
            return 135.0 + 25.0 * _uniform(rng, i)
        if sensor == SENSOR_OIL_PRESSURE:
            return 5.0 + 20.0 * _uniform(rng, i)
        return 80.0 + 15.0 * _uniform(rng, i)
    if u < 0.03:
        st[i, S_DROPOUT] = float(int(1.0 + 5.0 * _uniform(rng, i)))
        return np.nan
    return value


@njit
def _write_row(st, pr, rng, i, t, amb, load, running, cranking, out, row):
    """One message: every signal of the vehicle's powertrain at `t`."""
    o = out[row]
    electric = pr[i, P_ELECTRIC] > 0.0
    p = _progress(st, pr, i, t)
    fault = pr[i, P_FAULT]
    v = st[i, S_SPEED]
    o[C_SPEED] = round(v, 1)
    o[C_ODO] = math.floor(st[i, S_ODO])
    o[C_AMBIENT] = round(amb + 0.3 * _normal(rng, i), 1)
    o[C_LAT] = round(st[i, S_LAT], 6)
    o[C_LON] = round(st[i, S_LON], 6)
    # 12 V system
    rest = pr[i, P_REST_V] + 0.002 * (amb - 20.0)
    if fault == F_BATTERY_12V:
        rest -= 0.75 * min(p, 1.3)
    if running:
        volts = pr[i, P_CHARGE_V]
        amps = 2.0 + 25.0 * math.exp(-(t - st[i, S_TRIP_T0]) / 600.0)
        if fault == F_ALTERNATOR and p > 0.0:
            volts -= 2.8 * min(p, 1.2)
            if volts < rest + 0.1:
                amps = -12.0 - 10.0 * _uniform(rng, i)
            if volts < ALTERNATOR_FAILS_AT:
                _failed(st, i, t)
    elif cranking:
        volts = 10.4 - 0.03 * max(0.0, 10.0 - amb) + (rest - pr[i, P_REST_V]) * 2.8
        amps = -170.0 - 30.0 * _uniform(rng, i)
        if volts < CRANK_FAILS_AT and fault == F_BATTERY_12V:
            _failed(st, i, t)
    elif electric and st[i, S_CHARGING] > 0.0:
        volts = 13.8
        amps = 2.0
    else:
        volts = rest + 0.25 * math.exp(-(t - st[i, S_PARK_T0]) / 3600.0)
        amps = -0.03
        if volts < REST_FAILS_AT and fault == F_BATTERY_12V:
            _failed(st, i, t)
    o[C_V12] = round(volts + 0.015 * _normal(rng, i), 2)
    o[C_I12] = round(amps + 0.01 * _normal(rng, i), 2)
    # tyres: the gas law from the cold (20 °C) pressure
    for w in range(4):
        cold = st[i, S_TYRE_P + w]
        if fault == F_PUNCTURE and int(pr[i, P_COMPONENT]) == w and p > 0.0:
            cold -= PUNCTURE_LOSS * pr[i, P_PLACARD + w] * min(p, 1.3)
            if cold < PUNCTURE_FAILS_AT * pr[i, P_PLACARD + w]:
                _failed(st, i, t)
        hot = cold * (273.15 + st[i, S_TYRE_T + w]) / 293.15
        o[C_TYRE_P + w] = round(hot + 0.7 * _normal(rng, i), 1)
        o[C_TYRE_T + w] = round(st[i, S_TYRE_T + w] + 0.3 * _normal(rng, i), 1)
        o[C_PAD + w] = round(st[i, S_PAD + w], 1)
    if electric:
        soc = st[i, S_ENERGY]
        o[C_SOC] = round(soc, 1)
        o[C_SOH] = round(st[i, S_SOH] + 0.15 * _normal(rng, i), 1)
        o[C_PACK_T] = round(
            _sensor_glitch(st, pr, rng, i, t, SENSOR_PACK_TEMP, st[i, S_PACK_T] + 0.2 * _normal(rng, i)), 1
        )
        pack_v = 330.0 + 70.0 * soc / 100.0
        o[C_PACK_V] = round(pack_v, 1)
        if running:
            kw = 2.0 + 0.35 * load * pr[i, P_MASS]
            o[C_PACK_I] = round(-kw * 1000.0 / pack_v, 1)
        elif st[i, S_CHARGING] > 0.0:
            o[C_PACK_I] = round(7400.0 / pack_v, 1)
        else:
            o[C_PACK_I] = 0.0
        o[C_CHARGING] = st[i, S_CHARGING]
        o[C_RANGE] = math.floor(
            soc / 100.0 * pr[i, P_CAPACITY] * st[i, S_SOH] / 100.0 / pr[i, P_CONSUMPTION] * 100_000.0
        )
        return
    rpm = 0.0
    if running:
        rpm = max(780.0, v * pr[i, P_RPM_PER_KMH] * (1.0 - 0.3 * min(v, 120.0) / 120.0)) + 25.0 * _normal(rng, i)
    elif cranking:
        rpm = 220.0 + 30.0 * _uniform(rng, i)
    o[C_RPM] = round(rpm)
    o[C_LOAD] = round(load if running else 0.0, 1)
    coolant = st[i, S_COOLANT] + 0.3 * _normal(rng, i)
    if coolant >= OVERHEAT_FAILS_AT and fault == F_OVERHEAT:
        _failed(st, i, t)
    o[C_COOLANT] = round(_sensor_glitch(st, pr, rng, i, t, SENSOR_COOLANT, coolant), 1)
    o[C_OIL_T] = round(st[i, S_OIL_T] + 0.3 * _normal(rng, i), 1)
    eop = 0.0
    if running:
        thick = 1.0 + 0.6 * max(0.0, 80.0 - st[i, S_OIL_T]) / 80.0
        eop = (90.0 + 0.12 * rpm) * thick
        if fault == F_OIL and p > 0.0:
            eop *= max(0.05, 1.0 - 0.85 * min(p, 1.2))
        eop += 5.0 * _normal(rng, i)
        if eop < OIL_FAILS_AT and fault == F_OIL:
            _failed(st, i, t)
    o[C_EOP] = round(_sensor_glitch(st, pr, rng, i, t, SENSOR_OIL_PRESSURE, max(0.0, eop)), 0)
    o[C_HOURS] = round(st[i, S_HOURS], 2)
    o[C_FUEL] = round(st[i, S_ENERGY], 1)
    o[C_RANGE] = math.floor(st[i, S_ENERGY] / 100.0 * pr[i, P_CAPACITY] / pr[i, P_CONSUMPTION] * 100_000.0)


@njit
def _dtcs(st, pr, i, out, row, running):
    """The codes the ECUs hold at this message, as a bit mask over DTC_CODES."""
    o = out[row]
    mask = 0
    electric = pr[i, P_ELECTRIC] > 0.0
    if not electric and o[C_COOLANT] > 115.0 and pr[i, P_FAULT] == F_OVERHEAT:
        mask |= 1 << D_OVERTEMP
    if running and o[C_V12] < 12.2:
        mask |= 1 << D_VOLTAGE_LOW
    if running and not electric and pr[i, P_FAULT] == F_ALTERNATOR and o[C_V12] < 12.6:
        mask |= 1 << D_GENERATOR
    if running and not electric and o[C_EOP] < 70.0 and pr[i, P_FAULT] == F_OIL:
        mask |= 1 << D_OIL_PRESSURE
    if electric and st[i, S_SOH] < 78.0:
        mask |= 1 << D_PACK
    for w in range(4):
        if o[C_TYRE_P + w] < 0.75 * pr[i, P_PLACARD + w]:  # the TPMS warning level
            mask |= 1 << (D_TPMS + w)
        if st[i, S_PAD + w] >= 88.0:
            mask |= 1 << D_PADS
    return mask
