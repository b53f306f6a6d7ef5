"""The vehicle physics: one numba kernel advances every vehicle through a span of simulated time
and writes the messages the vehicles send, one row per message and one column per signal.

Pure: state, parameters and the day's trip plan come in as arrays, messages go out as arrays.
Every random draw comes from the vehicle's own generator (a 63-bit LCG kept in its state), drawn
message by message, so a scenario produces the same telemetry however its time is cut into spans
(a day at a time offline, a second at a time live) and `simulate.py_func` gives what the
compiled kernel gives (`check_span` first).

Time inside is float seconds since the scenario's first midnight (UTC).
"""

from __future__ import annotations

import math

import numpy as np

from rules.kernels.config import njit
from simulators.physics_layout import *  # noqa: F403 - the arrays' layout, as numba constants
from simulators.physics_layout import _normal, _uniform
from simulators.physics_messages import _dtcs, _failed, _progress, _write_row


@njit
def ambient_at(t, climate, doy0, weather):
    """Air temperature (°C): season, time of day, the day's weather, the vehicle's region."""
    day = t / 86400.0
    season = 11.0 - 9.0 * math.cos(2.0 * math.pi * (doy0 + day - 20.0) / 365.0)
    hour = (t % 86400.0) / 3600.0
    return season + 5.0 * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0) + weather + climate


@njit
def _repair(st, pr, i, t):
    """The workshop fixes a failed vehicle `P_REPAIR_AFTER` seconds after the failure."""
    if st[i, S_REPAIRED] > 0.0 or np.isnan(st[i, S_FAILED]) or t < st[i, S_FAILED] + pr[i, P_REPAIR_AFTER]:
        return
    st[i, S_REPAIRED] = 1.0
    fault = pr[i, P_FAULT]
    w = int(pr[i, P_COMPONENT])
    if fault == F_PUNCTURE:
        st[i, S_TYRE_P + w] = pr[i, P_PLACARD + w]
    elif fault == F_BRAKES:
        st[i, S_PAD + w] = 1.0
    elif fault == F_TRACTION:
        st[i, S_SOH] = 99.0  # a reconditioned pack


@njit
def _park_to(st, pr, i, t, amb):
    """Advance a parked vehicle to `t`: things cool down, an EV charges, a pack ages."""
    dt = t - st[i, S_LAST]
    if dt <= 0.0:
        return
    cool = math.exp(-dt / 5400.0)
    st[i, S_COOLANT] = amb + (st[i, S_COOLANT] - amb) * cool
    st[i, S_OIL_T] = amb + (st[i, S_OIL_T] - amb) * cool
    tyre = math.exp(-dt / 1800.0)
    for w in range(4):
        st[i, S_TYRE_T + w] = amb + (st[i, S_TYRE_T + w] - amb) * tyre
    _age(st, pr, i, t, dt)
    if pr[i, P_ELECTRIC] > 0.0:
        pack_target = amb + (8.0 if st[i, S_CHARGING] > 0.0 else 0.0)
        st[i, S_PACK_T] = pack_target + (st[i, S_PACK_T] - pack_target) * math.exp(-dt / 10800.0)
        if st[i, S_CHARGING] > 0.0:
            st[i, S_ENERGY] += 7.4 / pr[i, P_CAPACITY] * 100.0 * dt / 3600.0
            if st[i, S_ENERGY] >= 90.0:
                st[i, S_ENERGY] = 90.0
                st[i, S_CHARGING] = 0.0


@njit
def _age(st, pr, i, t, dt):
    """Slow changes that go on whether driving or not: tyres leak, packs age, faults progress."""
    days = dt / 86400.0
    for w in range(4):
        st[i, S_TYRE_P + w] -= pr[i, P_PLACARD + w] * 0.0005 * days  # ~1.5 % a month through the rubber
    st[i, S_SOH] -= 0.006 * days
    if pr[i, P_FAULT] == F_TRACTION and _progress(st, pr, i, t) > 0.0:
        st[i, S_SOH] -= pr[i, P_RATE] * pr[i, P_FAULT_ARG] * dt  # P_FAULT_ARG points per unit of progress
        if st[i, S_SOH] < TRACTION_FAILS_AT:
            _failed(st, i, t)


@njit
def _start_trip(st, pr, rng, i, t, k, home):
    st[i, S_TRIP] = k
    st[i, S_TRIP_T0] = t
    st[i, S_SPEED] = 0.0
    st[i, S_TARGET] = 0.0
    st[i, S_CHARGING] = 0.0
    if pr[i, P_ELECTRIC] > 0.0:
        if st[i, S_ENERGY] < 15.0:  # a fast charger on the way
            st[i, S_ENERGY] = 80.0
    elif st[i, S_ENERGY] < 18.0:
        st[i, S_ENERGY] = 95.0 + 5.0 * _uniform(rng, i)
    if _uniform(rng, i) < 0.03:  # the driver checks the tyres at the filling station
        for w in range(4):
            if not (pr[i, P_FAULT] == F_PUNCTURE and int(pr[i, P_COMPONENT]) == w and st[i, S_REPAIRED] == 0.0):
                st[i, S_TYRE_P + w] = pr[i, P_PLACARD + w]
    dlat = pr[i, P_HOME_LAT] - st[i, S_LAT]
    dlon = pr[i, P_HOME_LON] - st[i, S_LON]
    away = 360.0 * _uniform(rng, i)
    if home or dlat * dlat + dlon * dlon > 0.04:  # the way back, or heading home when far away
        st[i, S_HEADING] = math.degrees(math.atan2(dlon, dlat)) % 360.0
    else:
        st[i, S_HEADING] = away


@njit
def _end_trip(st, pr, rng, i, t):
    st[i, S_TRIP] = -1.0
    st[i, S_PARK_T0] = t
    st[i, S_SPEED] = 0.0
    if pr[i, P_ELECTRIC] > 0.0:
        low = st[i, S_ENERGY] < 45.0
        if low or _uniform(rng, i) < pr[i, P_HOME_CHARGER]:
            st[i, S_CHARGING] = 1.0


@njit
def _drive_to(st, pr, rng, i, t, amb, cruise):
    """Advance a driving vehicle to `t` (one message interval): speed, energy, heat, wear."""
    dt = t - st[i, S_LAST]
    if dt <= 0.0:
        return 0.0
    v0 = st[i, S_SPEED]
    if _uniform(rng, i) < dt / 10.0:  # the traffic changes every 10 s or so, whatever the message rate
        stop = cruise < 50.0 and _uniform(rng, i) < 0.3  # lights, junctions
        st[i, S_TARGET] = 0.0 if stop else cruise * (0.75 + 0.45 * _uniform(rng, i))
    target = st[i, S_TARGET]
    v1 = v0 + max(-3.5 * 3.6 * dt, min(2.0 * 3.6 * dt, target - v0))
    v1 = max(0.0, v1 + 0.8 * _normal(rng, i))
    st[i, S_SPEED] = v1
    km = 0.5 * (v0 + v1) / 3600.0 * dt
    st[i, S_ODO] += km * 1000.0
    heading = st[i, S_HEADING] + 8.0 * _normal(rng, i)
    st[i, S_HEADING] = heading % 360.0
    step_deg = km / 111.0
    st[i, S_LAT] += step_deg * math.cos(math.radians(heading))
    st[i, S_LON] += step_deg * math.sin(math.radians(heading)) / math.cos(math.radians(st[i, S_LAT]))
    # braking energy: kinetic energy lost beyond rolling and air drag
    mass = pr[i, P_MASS] * 1000.0
    braked_mj = max(0.0, 0.5 * mass * ((v0 / 3.6) ** 2 - (v1 / 3.6) ** 2)) / 1e6 * 0.8
    if pr[i, P_ELECTRIC] > 0.0:
        braked_mj *= 1.0 - REGEN_SHARE
    for w in range(4):
        share = FRONT_BRAKE_SHARE if w < 2 else 0.15
        wear = braked_mj / pr[i, P_MASS] * share * PAD_WEAR_PER_MJ_T  # pads are sized to the vehicle
        if pr[i, P_FAULT] == F_BRAKES and int(pr[i, P_COMPONENT]) == w and _progress(st, pr, i, t) > 0.0:
            wear += pr[i, P_FAULT_ARG] * km  # a sticking caliper drags: wear with every km
        st[i, S_PAD + w] = min(100.0, st[i, S_PAD + w] + wear)
        if st[i, S_PAD + w] >= 100.0 and pr[i, P_FAULT] == F_BRAKES and int(pr[i, P_COMPONENT]) == w:
            _failed(st, i, t)
    # tyres warm with speed
    for w in range(4):
        target_t = amb + 8.0 + 0.22 * v1
        st[i, S_TYRE_T + w] += (target_t - st[i, S_TYRE_T + w]) * (1.0 - math.exp(-dt / 900.0))
    load = min(
        100.0,
        max(
            5.0, 10.0 + 0.42 * v1 * math.sqrt(pr[i, P_MASS] / 1.5) + 12.0 * max(0.0, v1 - v0) / 3.6 / max(dt, 1.0) * 3.0
        ),
    )
    load = min(100.0, max(5.0, load + 3.0 * _normal(rng, i)))
    if pr[i, P_ELECTRIC] > 0.0:
        kwh = pr[i, P_CONSUMPTION] / 100.0 * km * (1.0 + 0.3 * abs(amb - 20.0) / 20.0) * (0.6 + load / 100.0)
        st[i, S_ENERGY] = max(1.0, st[i, S_ENERGY] - kwh / pr[i, P_CAPACITY] * 100.0)
        pack_target = amb + 6.0 + 0.12 * load
        st[i, S_PACK_T] += (pack_target - st[i, S_PACK_T]) * (1.0 - math.exp(-dt / 2400.0))
    else:
        litres = pr[i, P_CONSUMPTION] / 100.0 * km * (0.7 + load / 100.0) + 0.8 * dt / 3600.0
        st[i, S_ENERGY] = max(0.5, st[i, S_ENERGY] - litres / pr[i, P_CAPACITY] * 100.0)
        st[i, S_HOURS] += dt / 3600.0
        thermostat = 90.0 + 0.06 * load + 0.05 * (amb - 20.0)
        tau = 300.0
        if pr[i, P_FAULT] == F_OVERHEAT and _progress(st, pr, i, t) > 0.0:
            thermostat += min(_progress(st, pr, i, t), 1.3) * 36.0 * (0.3 + load / 100.0)
            tau = 120.0  # little flow through the radiator: the heat stays in the engine's coolant
        st[i, S_COOLANT] += (thermostat - st[i, S_COOLANT]) * (1.0 - math.exp(-dt / tau))
        oil_target = st[i, S_COOLANT] + 4.0 + 0.1 * load
        st[i, S_OIL_T] += (oil_target - st[i, S_OIL_T]) * (1.0 - math.exp(-dt / 600.0))
    _age(st, pr, i, t, dt)
    return load


@njit
def simulate(
    st,
    pr,
    rng,
    t0,
    t1,
    day_t0,
    starts,
    durations,
    cruises,
    counts,
    drive_dt,
    park_dt,
    doy0,
    weather,
    out_vehicle,
    out_t,
    out,
    out_dtc,
):
    """Advance every vehicle from `t0` to `t1` (within the day starting at `day_t0`), writing
    each message it sends; returns the number of rows written. Trip times are relative to
    `day_t0`. A vehicle sends every `drive_dt` while driving (and at key on and key off), every
    `park_dt` while parked, on its own phase."""
    row = 0
    for i in range(st.shape[0]):
        while True:
            last = st[i, S_LAST]
            k = int(st[i, S_TRIP])
            amb_at = 0.0
            if k >= 0:  # driving: next interval, or key off at the trip's end
                end = day_t0 + starts[i, k] + durations[i, k]
                te = min(last + drive_dt, end)
                event = 2 if te >= end else 1
            else:  # parked: the next status message or the next trip's start, whichever is first
                phase = pr[i, P_PHASE]
                te = phase + (math.floor((last - phase) / park_dt) + 1.0) * park_dt
                if te <= last:  # rounding: `last` was itself a grid point
                    te += park_dt
                event = 0
                for j in range(counts[i]):
                    s = day_t0 + starts[i, j]
                    if s > last and durations[i, j] > 0.0:
                        if s <= te:
                            te = s
                            event = 3
                            k = j
                        break
            if te >= t1:
                break
            amb_at = ambient_at(te, pr[i, P_CLIMATE], doy0, weather)
            _repair(st, pr, i, te)
            load = 0.0
            if event == 3:
                _park_to(st, pr, i, te, amb_at)
                _start_trip(st, pr, rng, i, te, k, k % 2 == 1)
            elif event == 0:
                _park_to(st, pr, i, te, amb_at)
            else:
                load = _drive_to(st, pr, rng, i, te, amb_at, cruises[i, k])
            if event == 2:
                _end_trip(st, pr, rng, i, te)
            st[i, S_LAST] = te
            running = event == 1
            cranking = event == 3 and pr[i, P_ELECTRIC] == 0.0
            out_vehicle[row] = i
            out_t[row] = te
            _write_row(st, pr, rng, i, te, amb_at, load, running, cranking, out, row)
            out_dtc[row] = _dtcs(st, pr, i, out, row, running)
            row += 1
    return row


def row_bound(t0: float, t1: float, durations: np.ndarray, counts: np.ndarray, drive_dt: float, park_dt: float) -> int:
    """An upper bound of the rows `simulate` writes for the span (for the output buffers)."""
    span = t1 - t0
    driving = np.minimum(durations.sum(axis=1), span)
    per_vehicle = driving / drive_dt + 3 * counts + span / park_dt + 2
    return int(per_vehicle.sum()) + 1


def check_span(st: np.ndarray, pr: np.ndarray, rng: np.ndarray, t0: float, t1: float, day_t0: float) -> None:
    """What `simulate` assumes of its arguments, checked before it runs."""
    if not day_t0 <= t0 <= t1 <= day_t0 + 86_400.0:
        raise ValueError("a span lies within one day")
    if st.shape != (pr.shape[0], N_STATE) or pr.shape[1] != N_PARAM or rng.shape != (pr.shape[0], 2):
        raise ValueError("state, parameters and generators must have one row per vehicle")


def dtc_codes(mask: int) -> list[str]:
    """The codes of a message's DTC bit mask."""
    return [code for bit, code in enumerate(DTC_CODES) if mask >> bit & 1]
