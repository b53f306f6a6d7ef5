"""Drive the rule engine as it runs live, from rows a person can read: (vehicle, ms, signal, value)."""

from __future__ import annotations

import numpy as np

from rules.definitions import parse_rules
from rules.engine import RuleEngine
from rules.outcome import VehicleInfo
from telemetry.catalog import default_catalog
from telemetry.rulebatch import RuleBatch

CATALOG = default_catalog()
COOLANT = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
RPM = "Vehicle.Powertrain.CombustionEngine.Speed"
LOAD = "Vehicle.Powertrain.CombustionEngine.EngineLoad"
SPEED = "Vehicle.Speed"
TYRE = "Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure"
HOUR = 3_600_000
CAR = VehicleInfo(1, "combustion", "Aurora", "Tourer")


def engine_for(text: str, *vehicles: VehicleInfo) -> RuleEngine:
    engine = RuleEngine(parse_rules(text, CATALOG, "test.toml"))
    for v in vehicles or (CAR,):
        engine.register(v)
    return engine


def batch(rows: list[tuple[int, int, str, float]]) -> RuleBatch:
    """rows: (vehicle id, ts, signal path, value)"""
    return RuleBatch(
        np.array([r[0] for r in rows], dtype=np.int32),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([CATALOG[r[2]].id for r in rows], dtype=np.int16),
        np.array([r[3] for r in rows], dtype=np.float64),
    )


def drive(seconds: range, **signals: object) -> list[tuple[int, int, str, float]]:
    """One row per second and signal; a value may be a function of the second."""
    paths = {"coolant": COOLANT, "rpm": RPM, "load": LOAD, "speed": SPEED, "tyre": TYRE}
    return [
        (1, t * 1000, paths[name], float(v(t) if callable(v) else v)) for t in seconds for name, v in signals.items()
    ]
