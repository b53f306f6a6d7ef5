"""Scoring alerts against ground truth, and the offline evaluation with the packaged rules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rules.definitions import load_rules
from simulators.evaluate import evaluate
from simulators.faults import Label
from simulators.scenario import Scenario
from simulators.scorecard import Alert, score, table
from telemetry.catalog import default_catalog

DAY = 86_400_000
VIN_A, VIN_B, VIN_C = "WA1AAAAAAAAAAAAA1", "WA1BBBBBBBBBBBBB2", "WA1CCCCCCCCCCCCC3"


def labels() -> list[Label]:
    return [
        Label(VIN_A, "slow_puncture", "front_left", onset_ms=10 * DAY, failure_ms=30 * DAY, end_ms=32 * DAY),
        Label(VIN_B, "oil_loss", "", onset_ms=5 * DAY, failure_ms=15 * DAY, end_ms=16 * DAY),
        Label(VIN_C, "intermittent_sensor", "coolant_temperature", onset_ms=40 * DAY, failure_ms=None, end_ms=50 * DAY),
    ]


def test_an_alert_is_true_only_for_the_right_rule_wheel_and_time() -> None:
    alerts = [
        Alert(VIN_A, "tyre_deflating_front_left", 18 * DAY),  # true: 12 days of lead
        Alert(VIN_A, "tyre_low_front_left", 27 * DAY),  # true as well
        Alert(VIN_A, "tyre_low_rear_right", 20 * DAY),  # wrong wheel: false
        Alert(VIN_A, "tyre_low_front_left", 5 * DAY),  # before the onset: false
        Alert(VIN_A, "dtc.C0750", 29 * DAY),  # the TPMS code of that wheel: true
        Alert(VIN_B, "oil_pressure_low", 16 * DAY),  # after the failure, before repair: true, too late
        Alert(VIN_C, "coolant_overtemp", 45 * DAY),  # a flaky sensor is not overheating: false
    ]
    card = score(alerts, labels(), vehicle_days=1000.0)
    d = card.as_dict()
    tyre = d["faults"]["slow_puncture"]
    assert (tyre["true_alerts"], tyre["detected"], tyre["median_lead_days"]) == (3, 1, 12.0)
    oil = d["faults"]["oil_loss"]
    assert (oil["true_alerts"], oil["detected"], oil["recall"]) == (1, 0, 0.0), "after the failure: no warning"
    assert d["faults"]["intermittent_sensor"]["episodes_with_maintenance_alerts"] == 1
    overall = d["overall"]
    assert (overall["true_alerts"], overall["false_alerts"]) == (4, 3)
    assert overall["precision"] == pytest.approx(4 / 7, abs=1e-4)
    assert overall["recall"] == 0.5
    assert overall["false_alerts_per_1000_vehicle_days"] == 3.0
    assert d["false_alerts_by_rule"] == {"coolant_overtemp": 1, "tyre_low_front_left": 1, "tyre_low_rear_right": 1}
    assert not card.targets_met()
    assert "| slow_puncture | 1 | 1 | 1 |" in table(card)


def test_failures_after_the_window_make_alerts_true_but_do_not_count_for_recall() -> None:
    late = [Label(VIN_A, "brake_wear", "rear_left", onset_ms=50 * DAY, failure_ms=95 * DAY, end_ms=97 * DAY)]
    card = score([Alert(VIN_A, "brake_pads_rear_left", 80 * DAY)], late, 90.0, window_end_ms=90 * DAY)
    brakes = card.as_dict()["faults"]["brake_wear"]
    assert (brakes["true_alerts"], brakes["failed"], brakes["recall"]) == (1, 0, None)


def test_a_perfect_run_meets_the_targets() -> None:
    alerts = [Alert(VIN_A, "tyre_deflating_front_left", 12 * DAY), Alert(VIN_B, "oil_pressure_anomaly", 14 * DAY)]
    card = score(alerts, labels(), vehicle_days=5000.0)
    assert card.targets_met()
    assert card.as_dict()["overall"]["median_lead_days"] == pytest.approx(9.5)


@pytest.fixture(scope="module")
def small_evaluation():
    """A small fleet with every fault, through the packaged rules (about 15 s)."""
    catalog = default_catalog()
    scenario = Scenario.parse("vehicles=160 days=75 seed=3 faults=default,slow_puncture:5,battery_12v:5,oil_loss:4")
    return evaluate(scenario, load_rules(catalog), catalog)


def test_packaged_rules_find_injected_faults_before_they_fail(small_evaluation) -> None:
    d = small_evaluation.card.as_dict()
    overall = d["overall"]
    assert overall["failed"] >= 20
    assert overall["recall"] >= 0.9
    assert overall["precision"] >= 0.9
    assert overall["false_alerts_per_1000_vehicle_days"] <= 2.0
    for gradual in ("slow_puncture", "battery_12v"):
        assert d["faults"][gradual]["median_lead_days"] >= 5, f"{gradual}: days of warning"
    assert d["faults"]["intermittent_sensor"]["episodes_with_maintenance_alerts"] == 0


def test_incidents_are_fewer_than_alerts_and_no_less_precise(small_evaluation) -> None:
    """What an advisor works: alerts of one vehicle and system grouped as the server groups them."""
    d = small_evaluation.card.as_dict()
    incidents, overall = d["incidents"], d["overall"]
    assert incidents["incidents"] < overall["true_alerts"] + overall["false_alerts"], (
        "the overheating cars' alerts group"
    )
    assert incidents["precision"] >= overall["precision"]
    assert incidents["recall"] >= overall["recall"]


def test_alerts_of_one_system_overlapping_in_time_score_as_one_incident() -> None:
    alerts = [Alert(VIN_A, "coolant_overtemp", 10 * DAY), Alert(VIN_A, "dtc.P0217", 10 * DAY), Alert(VIN_B, "x", DAY)]
    card = score(alerts, [], vehicle_days=100.0, incident_of=[0, 0, 1])
    assert card.as_dict()["incidents"] == {
        "incidents": 2, "true": 0, "false": 2, "precision": 0.0, "recall": None,
        "false_per_1000_vehicle_days": 20.0, "alerts_per_incident": 1.5,
    }  # fmt: skip


def test_evaluation_messages_reach_the_engine_with_their_dtcs(small_evaluation) -> None:
    fired = {a.rule_id for a in small_evaluation.alerts}
    assert {"dtc.P0217", "dtc.P0524"} & fired, "the simulated ECUs' codes become DTC alerts"
    assert small_evaluation.samples > small_evaluation.messages * 10


def test_evaluate_command_ends_with_one_json_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "evaluate", "--scenario", "vehicles=30 days=30 seed=2", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    last = json.loads(out.strip().splitlines()[-1])
    assert set(last["overall"]) >= {"precision", "recall", "median_lead_days", "false_alerts_per_1000_vehicle_days"}
    assert set(last["faults"]) >= {"slow_puncture", "overheating", "traction_battery", "intermittent_sensor"}
    assert "| fault | injected |" in out


def test_evaluate_command_rejects_a_bad_scenario() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "server.cli", "evaluate", "--scenario", "vehicles=ten"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "error: scenario: vehicles='ten'" in run.stderr
