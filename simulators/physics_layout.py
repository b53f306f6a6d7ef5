"""The physics kernel's arrays, spelled once: the columns of a message row, the per-vehicle state
and parameter columns, fault and sensor codes, the DTC bits, the failure limits, and the
vehicle's own random generator. `simulators.physics` and `simulators.physics_messages` import
these with `*`: numba reads them as compile-time constants."""

from __future__ import annotations

import math

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
    "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.AirTemperature",
    "Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.AirTemperature",
    "Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.AirTemperature",
    "Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.AirTemperature",
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
