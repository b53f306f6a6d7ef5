"""The simulated fleet: deterministic, the same however time is cut, physically sensible, and
faults whose labels agree with what the telemetry shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulators import physics as ph
from simulators.faults import FAULTS, FaultMix, read_labels, write_labels
from simulators.fleet import DAY_S, Fleet, Span
from simulators.scenario import Scenario
from telemetry.errors import ConfigError

SMALL = Scenario(vehicles=24, days=3, seed=5, faults="")


def rows(spans: list[Span]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All messages, ordered by (vehicle, time)."""
    vehicle = np.concatenate([s.vehicle for s in spans])
    ts = np.concatenate([s.ts_ms for s in spans])
    order = np.lexsort((ts, vehicle))
    values = np.concatenate([s.values for s in spans])[order]
    dtc = np.concatenate([s.dtc for s in spans])[order]
    return vehicle[order], ts[order], values, dtc


def run(scenario: Scenario, span_s: float = DAY_S, **kwargs: object) -> list[Span]:
    return list(Fleet(scenario, **kwargs).spans(span_s=span_s))  # type: ignore[arg-type]


def test_same_seed_same_telemetry_different_seed_different() -> None:
    a, b = rows(run(SMALL)), rows(run(SMALL))
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b, strict=True))
    other = rows(run(Scenario(vehicles=24, days=3, seed=6, faults="")))
    assert not np.array_equal(a[2][:1000], other[2][:1000], equal_nan=True)


@pytest.mark.parametrize("span_s", [600.0, 3_600.0, 7 * 3_600.0 + 17.0])
def test_cutting_time_into_other_spans_changes_nothing(span_s: float) -> None:
    """Live publishing runs seconds at a time, evaluation a day at a time: same telemetry."""
    whole = rows(run(SMALL))
    cut = rows(run(SMALL, span_s=span_s))
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(whole, cut, strict=True))


def test_a_share_of_the_fleet_sends_what_it_sends_in_the_whole_fleet() -> None:
    members = np.array([1, 7, 20])
    vehicle, ts, values, _ = rows(run(SMALL))
    keep = np.isin(vehicle, members)
    part_vehicle, part_ts, part_values, _ = rows(run(SMALL, members=members))
    assert np.array_equal(members[part_vehicle], vehicle[keep])
    assert np.array_equal(part_ts, ts[keep])
    assert np.array_equal(part_values, values[keep], equal_nan=True)


def test_compiled_kernel_matches_pure_python(tmp_path: Path) -> None:
    """The physics kernel run by the Python interpreter (NUMBA_DISABLE_JIT) is the reference."""
    script = (
        "import sys, numpy as np\n"
        "from simulators.fleet import Fleet\nfrom simulators.scenario import Scenario\n"
        "spans = list(Fleet(Scenario(vehicles=4, days=1, seed=9, faults='')).spans())\n"
        "np.savez(sys.argv[1], t=np.concatenate([s.ts_ms for s in spans]),"
        " v=np.concatenate([s.values for s in spans]), d=np.concatenate([s.dtc for s in spans]))\n"
    )
    out = tmp_path / "reference.npz"
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, timeout=600)
    reference = np.load(out)
    spans = run(Scenario(vehicles=4, days=1, seed=9, faults=""))
    assert np.array_equal(np.concatenate([s.ts_ms for s in spans]), reference["t"])
    assert np.allclose(np.concatenate([s.values for s in spans]), reference["v"], equal_nan=True, atol=1e-9)
    assert np.array_equal(np.concatenate([s.dtc for s in spans]), reference["d"])


def test_signals_behave_like_a_car() -> None:
    fleet = Fleet(Scenario(vehicles=60, days=7, seed=3, faults=""))
    spans = list(fleet.spans())
    vehicle, ts, values, dtc = rows(spans)
    col = {p: i for i, p in enumerate(ph.COLUMNS)}
    electric = np.array([m.electric for m in fleet.models])[vehicle]
    same = vehicle[1:] == vehicle[:-1]
    assert (np.diff(ts)[same] > 0).all(), "a vehicle's messages move forward in time"
    odometer = values[:, ph.C_ODO]
    assert (np.diff(odometer)[same] >= 0).all(), "odometers never run back"
    soc = values[electric, ph.C_SOC]
    assert ((soc >= 0) & (soc <= 100)).all()
    assert np.isnan(values[electric, ph.C_RPM]).all(), "no engine speed from an EV"
    assert np.isnan(values[~electric, ph.C_SOC]).all(), "no state of charge from a combustion car"
    moving = values[:, ph.C_SPEED] > 5
    parked = values[:, ph.C_SPEED] == 0
    assert moving.any()
    assert parked.any()
    warm = ~electric & moving
    assert np.nanmedian(values[warm, ph.C_COOLANT]) > 80, "a driven engine is warm"
    assert np.nanmedian(values[warm, ph.C_V12]) > 13.8, "the alternator charges while the engine runs"
    rest = parked & (np.abs(values[:, ph.C_I12]) < 1)
    assert 12.3 < np.median(values[rest, ph.C_V12]) < 12.9, "a healthy 12 V battery rests near 12.6 V"
    tyre = values[:, ph.C_TYRE_P]
    assert np.median(tyre[moving]) > np.median(tyre[rest]), "tyres are warmer, so harder, when driving"
    assert (dtc == 0).all(), "a healthy fleet sets no trouble codes"
    away = np.abs(values[:, col["Vehicle.CurrentLocation.Latitude"]] - fleet.params[vehicle, ph.P_HOME_LAT])
    assert np.median(away) < 0.3, "vehicles are mostly near home"
    assert away.max() < 4, "and come back from long trips"


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.name != "intermittent_sensor"], ids=lambda f: f.name)
def test_a_labelled_failure_shows_in_the_telemetry(fault) -> None:
    """At the failure time of its label, the faulty vehicle's telemetry shows the failure."""
    scenario = Scenario(vehicles=40, days=75, seed=11, faults=f"{fault.name}:2")
    fleet = Fleet(scenario)
    spans = list(fleet.spans())
    labels = [lb for lb in fleet.labels() if lb.fault == fault.name]
    assert len(labels) == 2
    vehicle, ts, values, _ = rows(spans)
    for label in labels:
        assert label.failure_ms is not None, f"{fault.name} fails inside the scenario"
        assert label.onset_ms < label.failure_ms < (label.end_ms or 0)
        i = fleet.vins.index(label.vin)
        mine = vehicle == i
        before = mine & (ts < label.onset_ms)
        around = mine & (np.abs(ts - label.failure_ms) <= 1)
        assert around.any()
        row = values[around][0]
        wheel = list(ph.WHEELS).index(label.component) if label.component in ph.WHEELS else 0
        placard = fleet.params[i, ph.P_PLACARD + wheel]
        if fault.name == "slow_puncture":
            cold = row[ph.C_TYRE_P + wheel] * 293.15 / (273.15 + row[ph.C_TYRE_T + wheel])
            assert cold < 0.62 * placard
            assert np.median(values[before, ph.C_TYRE_P + wheel]) > 0.85 * placard
        elif fault.name == "overheating":
            assert row[ph.C_COOLANT] >= 119
        elif fault.name in ("alternator", "battery_12v"):
            assert row[ph.C_V12] < 12.0
        elif fault.name == "brake_wear":
            assert row[ph.C_PAD + wheel] >= 99.9
        elif fault.name == "traction_battery":
            assert row[ph.C_SOH] < 76
        elif fault.name == "oil_loss":
            assert row[ph.C_EOP] < 65
        repaired = mine & (ts > (label.end_ms or 0) + 86_400_000)
        if repaired.any() and fault.name == "brake_wear":
            assert values[repaired][-1][ph.C_PAD + wheel] < 50, "new pads after the repair"
        if repaired.any() and fault.name == "slow_puncture":
            assert values[repaired][-1][ph.C_TYRE_P + wheel] > 0.85 * placard, "a repaired tyre"


def test_intermittent_sensor_spikes_and_drops_out_but_the_engine_is_fine() -> None:
    fleet = Fleet(Scenario(vehicles=30, days=40, seed=4, faults="intermittent_sensor:6"))
    vehicle, ts, values, dtc = rows(list(fleet.spans()))
    for label in fleet.labels():
        i = fleet.vins.index(label.vin)
        column = {
            "coolant_temperature": ph.C_COOLANT,
            "oil_pressure": ph.C_EOP,
            "traction_battery_temperature": ph.C_PACK_T,
        }[label.component]
        during = (vehicle == i) & (ts >= label.onset_ms) & (ts < (label.end_ms or 0))
        outside = (vehicle == i) & (ts >= (label.end_ms or 0))
        assert label.failure_ms is None, "a flaky sensor is not a failing engine"
        assert np.isnan(values[during, column]).mean() > 0.01, "dropouts: the value is missing"
        assert np.isnan(values[outside, column]).mean() < np.isnan(values[during, column]).mean()
        assert not dtc[vehicle == i].any()


def test_labels_file_round_trip(tmp_path: Path) -> None:
    fleet = Fleet(Scenario(vehicles=50, days=40, seed=2, faults="default"))
    for _ in fleet.spans():
        pass
    labels = fleet.labels()
    assert {lb.fault for lb in labels} >= {f.name for f in FAULTS}
    path = tmp_path / "labels.csv"
    write_labels(path, labels)
    again = read_labels(path)
    assert [(a.vin, a.fault, a.component) for a in again] == [(b.vin, b.fault, b.component) for b in labels]
    assert all(abs(a.onset_ms - b.onset_ms) < 1000 for a, b in zip(again, labels, strict=True))
    header = path.read_text().splitlines()[0]
    assert header == "vin,fault,component,onset,failure,end"


def test_scenario_and_fault_specs_reject_mistakes_clearly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown key 'vehicle'"):
        Scenario.parse("vehicle=10")
    with pytest.raises(ConfigError, match="not key=value"):
        Scenario.parse("vehicles")
    with pytest.raises(ConfigError, match="fault spec 'flat_tyre:3'"):
        FaultMix.parse("flat_tyre:3")
    with pytest.raises(ConfigError, match="vehicles and days must be positive"):
        Scenario.parse("vehicles=0")
    assert FaultMix.parse("brake_wear:10%,oil_loss:2@0.5").count("brake_wear", 200) == 20
    toml = tmp_path / "s.toml"
    toml.write_text('vehicles = 12\ndays = 30\nfaults = "oil_loss:1"\n')
    assert Scenario.parse(str(toml)).vehicles == 12
    with pytest.raises(ConfigError, match=r"can take traction_battery \(asked for 6\)"):
        Fleet(Scenario(vehicles=5, days=40, faults="traction_battery:6", seed=1))


def test_rule_library_knows_every_simulated_model() -> None:
    """Maintenance plans and tyre placards in the rules are those of the simulated models."""
    from rules.definitions import load_rules
    from simulators.models import MODELS
    from telemetry.catalog import default_catalog

    rules = {r.id: r for r in load_rules(default_catalog())}
    plans = rules["maintenance_plan"].conditions[0].plans
    tyres = {axle: rules[f"tyre_low_{axle}_left"].conditions[0].residual for axle in ("front", "rear")}
    for m in MODELS:
        assert plans[m.model] == (m.service_km, m.service_months)
        for k, axle in enumerate(("front", "rear")):
            residual = tyres[axle]
            assert residual is not None
            assert residual.coefficients[m.model][1] == pytest.approx(m.tyre_kpa[k] / 293.15, rel=1e-3)
