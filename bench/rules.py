"""Rule engine speed: the numba kernels against their pure-Python references, in one run.

    python -m bench.rules [--samples 10000000] [--vehicles 10000] [--python-samples 300000]

A realistic set of 20 threshold rules (soft and hard levels, tyres, brakes, 12 V, traction
battery, engine) over a fleet's samples in time order. A sample-rule evaluation is one sample
processed by one rule that watches its signal, for a vehicle in the rule's scope. Reported:
- the engine's live path (masking, per-rule sort, kernel, outcomes) in batches of 200,000 samples;
- the kernel alone on prepared arrays;
- the pure-Python reference (tests/naive.py) on the first `--python-samples` samples.
The threshold kind is a state machine (duration, hysteresis, gaps): it has no numpy-vectorised
form, so `numpy_evals_per_s` is null. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from rules.definitions import parse_rules
from rules.engine import RuleEngine, VehicleInfo
from rules.kernels.threshold import ThresholdState, evaluate_threshold
from telemetry.catalog import default_catalog
from telemetry.rulebatch import RuleBatch
from tests.naive import threshold_reference

RULES = """
[[rule]]
id = "coolant_warm"
kind = "threshold"
signal = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
above = 105.0
for = "60s"
clear_below = 98.0
severity = "warning"
scope = { powertrain = ["combustion", "hybrid"] }
[[rule]]
id = "coolant_hot"
kind = "threshold"
signal = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"
above = 110.0
for = "30s"
clear_below = 100.0
severity = "critical"
scope = { powertrain = ["combustion", "hybrid"] }
[[rule]]
id = "oil_warm"
kind = "threshold"
signal = "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature"
above = 130.0
for = "60s"
severity = "warning"
scope = { powertrain = ["combustion", "hybrid"] }
[[rule]]
id = "oil_hot"
kind = "threshold"
signal = "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature"
above = 145.0
for = "20s"
severity = "critical"
scope = { powertrain = ["combustion", "hybrid"] }
[[rule]]
id = "oil_pressure_low"
kind = "threshold"
signal = "Vehicle.Powertrain.CombustionEngine.EOP"
below = 100.0
for = "10s"
severity = "critical"
scope = { powertrain = ["combustion", "hybrid"] }
[[rule]]
id = "over_rev"
kind = "threshold"
signal = "Vehicle.Powertrain.CombustionEngine.Speed"
above = 6500.0
for = "5s"
severity = "warning"
scope = { powertrain = ["combustion", "hybrid"] }
"""
for wheel in ("Row1.Wheel.Left", "Row1.Wheel.Right", "Row2.Wheel.Left", "Row2.Wheel.Right"):
    tag = wheel.replace(".Wheel.", "_").lower()
    RULES += f"""
[[rule]]
id = "tyre_low_{tag}"
kind = "threshold"
signal = "Vehicle.Chassis.Axle.{wheel}.Tire.Pressure"
below = 180.0
for = "5m"
clear_above = 200.0
max_gap = "10m"
severity = "warning"
[[rule]]
id = "pads_worn_{tag}"
kind = "threshold"
signal = "Vehicle.Chassis.Axle.{wheel}.Brake.PadWear"
above = 85.0
for = "1m"
max_gap = "1h"
severity = "warning"
"""
RULES += """
[[rule]]
id = "fuel_low"
kind = "threshold"
signal = "Vehicle.Powertrain.FuelSystem.RelativeLevel"
below = 5.0
for = "5m"
clear_above = 10.0
severity = "info"
scope = { powertrain = ["combustion", "hybrid"] }
[[rule]]
id = "hv_health_low"
kind = "threshold"
signal = "Vehicle.Powertrain.TractionBattery.StateOfHealth"
below = 70.0
for = "1h"
max_gap = "1d"
severity = "warning"
scope = { powertrain = ["electric", "hybrid"] }
[[rule]]
id = "lv_low"
kind = "threshold"
signal = "Vehicle.LowVoltageBattery.CurrentVoltage"
below = 11.8
for = "5m"
severity = "warning"
[[rule]]
id = "lv_overcharge"
kind = "threshold"
signal = "Vehicle.LowVoltageBattery.CurrentVoltage"
above = 15.2
for = "1m"
severity = "warning"
[[rule]]
id = "hv_hot"
kind = "threshold"
signal = "Vehicle.Powertrain.TractionBattery.Temperature.Average"
above = 55.0
for = "2m"
severity = "critical"
scope = { powertrain = ["electric", "hybrid"] }
[[rule]]
id = "hv_soc_low"
kind = "threshold"
signal = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
below = 8.0
for = "10m"
severity = "info"
scope = { powertrain = ["electric", "hybrid"] }
"""


def fleet_samples(samples: int, vehicles: int, signal_ids: np.ndarray, seed: int = 3) -> RuleBatch:
    """Time-ordered samples: every vehicle reports one watched signal per step, values wandering."""
    rng = np.random.default_rng(seed)
    steps = samples // vehicles
    vid = np.tile(np.arange(vehicles, dtype=np.int32), steps)
    ts = np.repeat(np.arange(steps, dtype=np.int64) * 1000, vehicles) + 1_763_800_000_000
    sig = signal_ids[rng.integers(0, len(signal_ids), len(ts))].astype(np.int16)
    value = rng.normal(0, 1, len(ts))
    return RuleBatch(vid, ts, sig, value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--vehicles", type=int, default=10_000)
    parser.add_argument("--python-samples", type=int, default=300_000)
    args = parser.parse_args()

    catalog = default_catalog()
    rules = parse_rules(RULES, catalog, "bench")
    signal_ids = np.unique([r.signal.id for r in rules]).astype(np.int16)
    batch = fleet_samples(args.samples, args.vehicles, signal_ids)
    # normal operating values on the safe side of each threshold, and 1 % of the vehicles drifting
    # beyond it for a while, so rules fire and clear about as often as in a real fleet
    drifting = (batch.vehicle_id % 100 == 0) & ((batch.ts // 600_000) % 2 == 0)
    for r in rules:
        mask = batch.signal == r.signal.id
        scale = max(abs(r.params.on_value) * 0.03, 0.5)
        side = -1.0 if r.params.above else 1.0
        offset = np.where(drifting[mask], -4.0, 4.0) * side
        batch.value[mask] = r.params.on_value + (offset + batch.value[mask]) * scale

    def engine() -> RuleEngine:
        e = RuleEngine(rules)
        for v in range(args.vehicles):
            e.register(VehicleInfo(v, ("combustion", "electric", "hybrid")[v % 3], "Aurora", "X"))
        return e

    def evaluations(part: RuleBatch, e: RuleEngine) -> int:
        """Samples each rule processes (vehicles are registered in id order, so id = slot)."""
        return sum(int(e.applies[r.id][part.vehicle_id[part.signal == r.signal.id]].sum()) for r in rules)

    warm = engine()
    warm.evaluate(batch.take(np.arange(50_000)))  # compile (or load the numba cache)

    live = engine()
    evals = evaluations(batch, live)
    chunk = 200_000
    began = time.perf_counter()
    outcomes = 0
    for start in range(0, len(batch), chunk):
        outcomes += len(live.evaluate(batch.take(np.arange(start, min(start + chunk, len(batch))))))
    engine_rate = evals / (time.perf_counter() - began)

    prepared = []
    e = engine()
    for r in rules:
        mask = (batch.signal == r.signal.id) & e.applies[r.id][batch.vehicle_id]
        order = np.lexsort((batch.ts[mask], batch.vehicle_id[mask]))
        prepared.append(
            (r, batch.vehicle_id[mask][order].astype(np.int64), batch.ts[mask][order], batch.value[mask][order])
        )
    began = time.perf_counter()
    for r, slot, ts, value in prepared:
        evaluate_threshold(slot, ts, value, r.params, ThresholdState.empty(args.vehicles), presorted=True)
    kernel_rate = evals / (time.perf_counter() - began)

    sub = batch.take(np.arange(min(args.python_samples, len(batch))))
    sub_evals = evaluations(sub, e)
    began = time.perf_counter()
    for r in rules:
        mask = (sub.signal == r.signal.id) & e.applies[r.id][sub.vehicle_id]
        threshold_reference(
            list(zip(sub.vehicle_id[mask].tolist(), sub.ts[mask].tolist(), sub.value[mask].tolist(), strict=True)),
            r.params,
        )
    python_rate = sub_evals / (time.perf_counter() - began)

    print(
        f"{len(rules)} rules, {len(batch):,} samples, {args.vehicles:,} vehicles: {evals:,} sample-rule evaluations,"
        f" {outcomes:,} alerts fired or cleared"
    )
    print(f"numba, engine live path (batches of {chunk:,}): {engine_rate:>14,.0f} evaluations/s")
    print(f"numba, kernel alone:                          {kernel_rate:>14,.0f} evaluations/s")
    print("numpy-vectorised:                             none for the threshold state machine")
    print(f"pure Python reference ({sub_evals:,} evaluations): {python_rate:>10,.0f} evaluations/s")
    print(f"speed-up vs Python: engine {engine_rate / python_rate:,.0f}x, kernel {kernel_rate / python_rate:,.0f}x")
    print(
        json.dumps(
            {
                "numba_evals_per_s": round(engine_rate),
                "numba_kernel_evals_per_s": round(kernel_rate),
                "numpy_evals_per_s": None,
                "python_evals_per_s": round(python_rate),
                "speedup_vs_python": round(engine_rate / python_rate, 1),
                "rules": len(rules),
                "samples": len(batch),
                "evaluations": evals,
            }
        )
    )


if __name__ == "__main__":
    main()
