"""The vehicle physics: one numba kernel advances every vehicle through a span of simulated time
and writes the messages the vehicles send, one row per message and one column per signal.

Pure: state, parameters and the day's trip plan come in as arrays, messages go out as arrays.
Every random draw comes from the vehicle's own generator (a 63-bit LCG kept in its state), drawn
message by message, so a scenario produces the same telemetry however its time is cut into spans
(a day at a time offline, a second at a time live) and `_simulate.py_func` gives what the
compiled kernel gives.

Time inside is float seconds since the scenario's first midnight (UTC).
"""

from __future__ import annotations

import math

import numpy as np

from rules.kernels.config import njit

# ---- the columns of a message row (VSS paths) --------------------------------------------------
COLUMNS = (
    "Vehicle.Speed",
    "Vehicle.TraveledDistance",
    "Vehicle.Exterior.AirTemperature",
    "Vehicle.CurrentLocation.Latitude",
    "Vehicle.CurrentLocation.Longitude",
    "Vehicle.LowVoltageBattery.CurrentVoltage",
    "Vehicle.LowVoltageBattery.CurrentCurrent",
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure",
    "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure",
    "Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure",
    "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure",
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Temperature",
    "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Temperature",
    "Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Temperature",
    "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Temperature",
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Brake.PadWear",
    "Vehicle.Chassis.Axle.Row1.Wheel.Right.Brake.PadWear",
    "Vehicle.Chassis.Axle.Row2.Wheel.Left.Brake.PadWear",
    "Vehicle.Chassis.Axle.Row2.Wheel.Right.Brake.PadWear",
    "Vehicle.Powertrain.CombustionEngine.Speed",
    "Vehicle.Powertrain.CombustionEngine.EngineLoad",
    "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature",
    "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature",
    "Vehicle.Powertrain.CombustionEngine.EOP",
    "Vehicle.Powertrain.CombustionEngine.EngineHours",
    "Vehicle.Powertrain.FuelSystem.RelativeLevel",
    "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current",
    "Vehicle.Powertrain.TractionBattery.StateOfHealth",
    "Vehicle.Powertrain.TractionBattery.Temperature.Average",
    "Vehicle.Powertrain.TractionBattery.CurrentVoltage",
    "Vehicle.Powertrain.TractionBattery.CurrentCurrent",
    "Vehicle.Powertrain.TractionBattery.Charging.IsCharging",
    "Vehicle.Powertrain.Range",
)
(
    C_SPEED, C_ODO, C_AMBIENT, C_LAT, C_LON, C_V12, C_I12,
    C_TYRE_P, _, _, _, C_TYRE_T, _, _, _, C_PAD, _, _, _,
    C_RPM, C_LOAD, C_COOLANT, C_OIL_T, C_EOP, C_HOURS, C_FUEL,
    C_SOC, C_SOH, C_PACK_T, C_PACK_V, C_PACK_I, C_CHARGING, C_RANGE,
) = range(len(COLUMNS))  # fmt: skip
WHEELS = ("front_left", "front_right", "rear_left", "rear_right")

# ---- DTCs the simulated ECUs set (bit i of a message's mask) -----------------------------------
DTC_CODES = ("P0217", "P0562", "P0620", "P0524", "P0A7F", "C0750", "C0755", "C0760", "C0765", "C1234")
D_OVERTEMP, D_VOLTAGE_LOW, D_GENERATOR, D_OIL_PRESSURE, D_PACK, D_TPMS, D_PADS = 0, 1, 2, 3, 4, 5, 9

# ---- faults, as the kernel knows them ----------------------------------------------------------
(
    F_NONE, F_PUNCTURE, F_OVERHEAT, F_ALTERNATOR, F_BATTERY_12V,
    F_BRAKES, F_TRACTION, F_OIL, F_SENSOR,
) = range(9)  # fmt: skip
SENSOR_COOLANT, SENSOR_OIL_PRESSURE, SENSOR_PACK_TEMP = 0, 1, 2

# ---- per-vehicle state (float64 columns) -------------------------------------------------------
(
    S_ODO, S_HOURS, S_ENERGY, S_COOLANT, S_OIL_T, S_PACK_T,
    S_TYRE_P, _, _, _, S_TYRE_T, _, _, _, S_PAD, _, _, _,
    S_SOH, S_SPEED, S_LAT, S_LON, S_HEADING, S_LAST, S_TRIP, S_TRIP_T0, S_PARK_T0,
    S_CHARGING, S_FAILED, S_REPAIRED, S_DROPOUT, S_TARGET,
) = range(32)  # fmt: skip
N_STATE = 32

# ---- per-vehicle parameters (float64 columns) --------------------------------------------------
(
    P_PLACARD, _, _, _, P_CAPACITY, P_CONSUMPTION, P_MASS, P_RPM_PER_KMH, P_ELECTRIC,
    P_CHARGE_V, P_REST_V, P_HOME_LAT, P_HOME_LON, P_PHASE, P_CLIMATE, P_HOME_CHARGER,
    P_FAULT, P_COMPONENT, P_ONSET, P_RATE, P_REPAIR_AFTER, P_FAULT_ARG,
) = range(22)  # fmt: skip
# P_RATE: 1 / the nominal progression (s). P_FAULT_ARG, by fault: the dragging brake's wear (% per km), the
# points of state of health a pack loses per unit of progress, the end of a sensor's episode.
N_PARAM = 22

PAD_WEAR_PER_MJ_T = 0.05  # % of pad per MJ braked at one wheel per tonne: ~45,000 km a front set of a car
FRONT_BRAKE_SHARE = 0.35  # per front wheel; rear wheels take 0.15 each
REGEN_SHARE = 0.7  # of an EV's braking energy recovered by the motor
PUNCTURE_LOSS = 0.45  # share of placard pressure lost when p reaches 1
PUNCTURE_FAILS_AT = 0.58  # cold pressure / placard: unsafe to drive on
OVERHEAT_FAILS_AT = 120.0  # °C
ALTERNATOR_FAILS_AT = 11.8  # V while running: the engine management browns out
CRANK_FAILS_AT = 8.6  # V during cranking: no start
REST_FAILS_AT = 11.9  # V parked: too flat to start (or to close an EV's contactors)
TRACTION_FAILS_AT = 75.0  # % state of health: the warranty limit
OIL_FAILS_AT = 60.0  # kPa while running: bearings at risk
# Each vehicle's generator: two 32-bit linear congruential generators (Numerical Recipes' and
# Borland's constants), whose top 24 bits each make a 48-bit uniform. No product exceeds 2**63,
# so compiled and interpreted code compute the same numbers (numba may assume that signed
# arithmetic never wraps, so a wrapping 64-bit generator is not portable between the two).
MASK32 = 0xFFFFFFFF


@njit
def _uniform(rng, i):
    """Next uniform in [0, 1) from vehicle i's generator (`rng[i]`: its two 32-bit states)."""
    a = (rng[i, 0] * 1664525 + 1013904223) & MASK32
    b = (rng[i, 1] * 22695477 + 1) & MASK32
    rng[i, 0] = a
    rng[i, 1] = b
    return ((a >> 8) * 16777216 + (b >> 8)) / 281474976710656.0


@njit
def _normal(rng, i):
    u1 = max(_uniform(rng, i), 1e-12)
    u2 = _uniform(rng, i)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit
def ambient_at(t, climate, doy0, weather):
    """Air temperature (°C): season, time of day, the day's weather, the vehicle's region."""
    day = t / 86400.0
    season = 11.0 - 9.0 * math.cos(2.0 * math.pi * (doy0 + day - 20.0) / 365.0)
    hour = (t % 86400.0) / 3600.0
    return season + 5.0 * math.sin(2.0 * math.pi * (hour - 9.0) / 24.0) + weather + climate


@njit
def _progress(st, pr, i, t):
    """How far the vehicle's fault has gone: 0 at onset, 1 at the nominal failure point; 0 when
    there is none, it has not started or it has been repaired."""
    if pr[i, P_FAULT] == F_NONE or st[i, S_REPAIRED] > 0.0 or t < pr[i, P_ONSET]:
        return 0.0
    return (t - pr[i, P_ONSET]) * pr[i, P_RATE]


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
def _failed(st, i, t):
    if np.isnan(st[i, S_FAILED]):
        st[i, S_FAILED] = t


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


@njit
def _simulate(
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
    """An upper bound of the rows `_simulate` writes for the span (for the output buffers)."""
    span = t1 - t0
    driving = np.minimum(durations.sum(axis=1), span)
    per_vehicle = driving / drive_dt + 3 * counts + span / park_dt + 2
    return int(per_vehicle.sum()) + 1


def simulate(
    st: np.ndarray, pr: np.ndarray, rng: np.ndarray, t0: float, t1: float, day_t0: float,
    starts: np.ndarray, durations: np.ndarray, cruises: np.ndarray, counts: np.ndarray,
    drive_dt: float, park_dt: float, doy0: float, weather: float,
    out_vehicle: np.ndarray, out_t: np.ndarray, out: np.ndarray, out_dtc: np.ndarray,
) -> int:  # fmt: skip
    """Checks the span, then runs the kernel (see `_simulate`); returns the rows written."""
    if not day_t0 <= t0 <= t1 <= day_t0 + 86_400.0:
        raise ValueError("a span lies within one day")
    if st.shape != (pr.shape[0], N_STATE) or pr.shape[1] != N_PARAM or rng.shape != (pr.shape[0], 2):
        raise ValueError("state, parameters and generators must have one row per vehicle")
    return int(
        _simulate(
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
        )
    )


def dtc_codes(mask: int) -> list[str]:
    """The codes of a message's DTC bit mask."""
    return [code for bit, code in enumerate(DTC_CODES) if mask >> bit & 1]
