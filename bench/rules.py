"""Rule engine speed: the numba kernels against their pure-Python references, in one run.

    python -m bench.rules [--samples 10000000] [--vehicles 2000] [--python-samples 200000]

The packaged rule library (every kind: thresholds with hard levels, rates, silence, one rule per
OBD-II code, anomaly, residual, trends, maintenance plan, a compound) over a fleet's messages:
every vehicle reports every 5 s, ~20 signals a message by powertrain, values around their
normal levels, 1 % of the vehicles drifting beyond limits now and then so rules fire and clear.

A sample-rule evaluation is one sample taken by one rule condition's kernel (after scope and
gates). Reported, in one run:
- numba, engine live path: `RuleEngine.evaluate` on batches of `--batch` samples (sorting,
  scopes, gates, residuals, kernels, combining transitions into alerts);
- numba, kernels alone: the same kernels on arrays prepared beforehand;
- numpy: the kind whose kernel is numpy (silence), on its own rows;
- pure Python: the references of tests/naive.py on the first `--python-samples` samples.
- state packing, which the live worker adds per batch to save what changed.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np

from bench import smoke
from rules.definitions import load_rules
from rules.engine import RuleEngine
from rules.kernels.service import ServiceParams
from rules.kernels.stale import StaleParams
from rules.model import Condition, Rule
from rules.outcome import VehicleInfo
from rules.sorted_batch import SortedBatch
from telemetry import dtc
from telemetry.catalog import Catalog, default_catalog
from telemetry.rulebatch import RuleBatch
from telemetry.vocabulary import Powertrain
from tests import naive

T0 = 1_763_800_000_000
STEP_MS = 5_000
POWERTRAINS = (Powertrain.COMBUSTION, Powertrain.ELECTRIC, Powertrain.HYBRID)
MODELS = ("Compact 1.5", "City EV", "Estate 2.0d")
WHEELS = ("Row1.Wheel.Left", "Row1.Wheel.Right", "Row2.Wheel.Left", "Row2.Wheel.Right")


def fleet_messages(catalog: Catalog, vehicles: int, samples: int, seed: int = 3) -> RuleBatch:
    """Messages in time order (all vehicles each step), as the long rows the engine takes."""
    rng = np.random.default_rng(seed)
    per_message = 17  # fewer than the signals: electric vehicles send no engine signals
    steps = max(samples // (vehicles * per_message), 1)
    vid = np.tile(np.arange(vehicles, dtype=np.int64), steps)
    ts = np.repeat(T0 + np.arange(steps, dtype=np.int64) * STEP_MS, vehicles)
    n = len(ts)
    kind = vid % 3  # 0 combustion, 1 electric, 2 hybrid
    engine, battery = kind != 1, kind != 0
    drifting = (vid % 100 == 0) & ((ts - T0) // 120_000 % 3 == 1)  # 1 % of vehicles, 2 min in 6
    parked = (vid + (ts - T0) // 60_000) % 5 == 0
    noise = lambda scale: rng.normal(0, scale, n)  # noqa: E731

    speed = np.where(parked, 0.0, np.clip(60 + noise(15), 0, 180))
    load = np.clip(40 + noise(10), 5, 100)
    coolant = np.where(drifting, 118.0, 90 + 0.05 * load) + noise(0.4)
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "Vehicle.Speed": (np.ones(n, bool), speed),
        "Vehicle.TraveledDistance": (np.ones(n, bool), 40_000_000 + vid * 1000.0 + (ts - T0) * 0.015),
        "Vehicle.Exterior.AirTemperature": (np.ones(n, bool), 15 + noise(0.3)),
        "Vehicle.Powertrain.CombustionEngine.Speed": (engine, np.where(parked, 0.0, 2000 + noise(300))),
        "Vehicle.Powertrain.CombustionEngine.EngineLoad": (engine, load),
        "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature": (engine, coolant),
        "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature": (engine, coolant + 6),
        "Vehicle.Powertrain.CombustionEngine.EOP": (engine, np.where(drifting, 60.0, 320.0) + noise(15)),
        "Vehicle.Powertrain.TractionBattery.StateOfHealth": (battery, 95 + noise(0.05)),
        "Vehicle.Powertrain.TractionBattery.Temperature.Average": (battery, np.where(drifting, 70, 30) + noise(1)),
        "Vehicle.LowVoltageBattery.CurrentVoltage": (np.ones(n, bool), np.where(drifting, 12.0, 14.1) + noise(0.05)),
    }
    for wheel in WHEELS:
        tyre = np.where(drifting & (vid % 200 == 0), 130.0, 240.0) + noise(1.5)
        columns[f"Vehicle.Chassis.Axle.{wheel}.Tire.Pressure"] = (np.ones(n, bool), tyre)
        columns[f"Vehicle.Chassis.Axle.{wheel}.Brake.PadWear"] = (np.ones(n, bool), 30 + noise(0.1))
    codes = np.where(drifting & (vid % 300 == 0), dtc.encode("P0217"), np.nan)
    columns["Vehicle.Diagnostics.DTCList"] = (np.ones(n, bool), codes)
    parts = [
        (vid[present], ts[present], np.full(int(present.sum()), catalog[path].id, np.int16), value[present])
        for path, (present, value) in columns.items()
    ]
    batch = RuleBatch(*(np.concatenate([p[i] for p in parts]) for i in range(4)))
    order = np.argsort(batch.ts, kind="stable")  # message order: by time, as ingest forwards them
    return batch.take(order[:samples])


def fleet_engine(rules: list[Rule], vehicles: int) -> RuleEngine:
    engine = RuleEngine(rules)
    for v in range(vehicles):
        engine.register(VehicleInfo(v, POWERTRAINS[v % 3], "Aurora", MODELS[v % 3]))
        engine.set_service(v, T0 - 200 * 86_400_000, 30_000.0)
    return engine


def condition_rows(engine: RuleEngine, batch: RuleBatch) -> list[tuple[Rule, Condition, tuple[np.ndarray, ...]]]:
    """What each condition's kernel takes from the batch (after scope, gates, residuals)."""
    sb = SortedBatch(batch, engine._slot_lookup, len(engine.vehicle_of_slot))
    found = []
    for rule in engine.rules:
        for c in rule.conditions:
            rows = engine._rows(sb, rule, c)
            if rows is not None:
                found.append((rule, c, rows))
    return found


def reference(c: Condition, rows: tuple[np.ndarray, ...]) -> None:
    """The pure-Python reference of the condition's kernel on its rows."""
    naive.reference_for(c.kernel)(list(zip(*(r.tolist() for r in rows), strict=True)), c.kernel)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--vehicles", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=200_000)
    parser.add_argument("--python-samples", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="Runs of the timed parts; the median is reported")
    args = smoke.parse(parser, samples=20_000, vehicles=50, batch=5_000, python_samples=5_000, repeat=1)

    catalog = default_catalog()
    rules = load_rules(catalog)
    batch = fleet_messages(catalog, args.vehicles, args.samples)
    chunks = [batch.take(np.arange(a, min(a + args.batch, len(batch)))) for a in range(0, len(batch), args.batch)]
    fleet_engine(rules, args.vehicles).evaluate(chunks[0])  # compile (or load the numba cache)

    core = [r for r in rules if r.kind not in ("dtc", "stale")]  # without the cheapest, most numerous evaluations
    live_rates, core_rates, kernel_rates, numpy_rates, pack_rates = [], [], [], [], []
    for _ in range(args.repeat):
        engine = fleet_engine(core, args.vehicles)
        began = time.perf_counter()
        for chunk in chunks:
            engine.evaluate(chunk)
        core_rates.append(engine.evaluations / (time.perf_counter() - began))

        engine = fleet_engine(rules, args.vehicles)
        began, outcomes = time.perf_counter(), 0
        for chunk in chunks:
            outcomes += len(engine.evaluate(chunk))
        live_rates.append(engine.evaluations / (time.perf_counter() - began))
        evaluations = engine.evaluations

        packed = list(range(args.vehicles))
        began = time.perf_counter()
        for _chunk in chunks:
            engine.pack(packed)
        pack_rates.append(len(chunks) / (time.perf_counter() - began))

        fresh = fleet_engine(rules, args.vehicles)
        prepared = [condition_rows(fresh, chunk) for chunk in chunks]
        states = {key: s.copy() for key, s in fresh.states.items()}
        kernel_time = numpy_time = 0.0
        kernel_evals = numpy_evals = 0
        for per_chunk in prepared:
            for rule, c, rows in per_chunk:
                began = time.perf_counter()
                c.kernel.evaluate(*rows, states[(rule.id, c.name)], presorted=True)
                spent = time.perf_counter() - began
                if isinstance(c.kernel, StaleParams | ServiceParams):
                    numpy_time, numpy_evals = numpy_time + spent, numpy_evals + len(rows[0])
                else:
                    kernel_time, kernel_evals = kernel_time + spent, kernel_evals + len(rows[0])
        kernel_rates.append(kernel_evals / kernel_time)
        numpy_rates.append(numpy_evals / numpy_time)

    by_kind: dict[str, int] = defaultdict(int)
    for per_chunk in prepared:
        for _, c, rows in per_chunk:
            by_kind[c.kind] += len(rows[0])

    sub = batch.take(np.arange(min(args.python_samples, len(batch))))
    per_condition = condition_rows(fleet_engine(rules, args.vehicles), sub)
    python_evals = sum(len(rows[0]) for _, _, rows in per_condition)
    began = time.perf_counter()
    for _, c, rows in per_condition:
        reference(c, rows)
    python_rate = python_evals / (time.perf_counter() - began)

    live, core_live, kernels, numpy_rate = (
        float(np.median(r)) for r in (live_rates, core_rates, kernel_rates, numpy_rates)
    )
    kinds = sorted({r.kind for r in rules})
    print(
        f"{len(rules)} rules ({len({r.id.split('.')[0] for r in rules})} before one-per-code DTC expansion;"
        f" kinds: {', '.join(kinds)}), {len(batch):,} samples, {args.vehicles:,} vehicles:"
        f" {evaluations:,} sample-rule evaluations, {outcomes:,} alerts fired, cleared or raised"
    )
    print(
        f"numba, engine live path (batches of {args.batch:,}): {live:>14,.0f} evaluations/s  (median of {args.repeat})"
    )
    print(f"  the same without the DTC and silence rules ({len(core)} rules): {core_live:>10,.0f} evaluations/s")
    print("evaluations by kind: " + ", ".join(f"{k} {n:,}" for k, n in sorted(by_kind.items(), key=lambda kv: -kv[1])))
    print(f"numba, kernels alone:                         {kernels:>14,.0f} evaluations/s")
    print(f"numpy kernel (silence):                       {numpy_rate:>14,.0f} evaluations/s")
    print(f"pure Python references ({python_evals:,} evaluations): {python_rate:>9,.0f} evaluations/s")
    print(f"speed-up vs Python: engine {live / python_rate:,.0f}x, kernels {kernels / python_rate:,.0f}x")
    print(
        f"state packing for {args.vehicles:,} vehicles: {1000 / float(np.median(pack_rates)):.1f} ms"
        " (the live worker packs the vehicles that changed, at each checkpoint)"
    )
    print(
        json.dumps(
            {
                "numba_evals_per_s": round(live),
                "numba_evals_per_s_without_dtc_and_silence": round(core_live),
                "numba_kernel_evals_per_s": round(kernels),
                "numpy_evals_per_s": round(numpy_rate),
                "python_evals_per_s": round(python_rate),
                "speedup_vs_python": round(live / python_rate, 1),
                "rules": len(rules),
                "samples": len(batch),
                "evaluations": evaluations,
                "smoke": args.smoke,
            }
        )
    )


if __name__ == "__main__":
    main()
