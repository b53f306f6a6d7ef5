"""Detection quality: alerts matched against the labels of the faults that were injected.

- An alert is true when its vehicle has a fault that its rule detects (see `FaultType.detectors`)
  and it was raised between the fault's onset and its repair; every other alert is false.
  Scheduled-service alerts are not scored: the plan, not a fault, makes them due.
- A fault counts for recall once it has failed inside the scenario; it is detected when a true
  alert came no later than the failure. The lead time is failure minus first true alert.
- Alerts of rules that read an intermittent sensor, during its episode (and a day after), are
  wrong by definition: the sensor, not the vehicle, is at fault.
- Incidents (alerts of one vehicle and system, grouped as the server groups them) are what an
  advisor works: an incident is true when one of its alerts is. Incident recall is the alerts'
  (a fault is found by its first true alert, whatever incident holds it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

import numpy as np

from simulators.faults import FAULT_BY_NAME, FAULTS, SENSOR_RULES, WEAR_OUT, Label, detects

DAY_MS = 86_400_000
GRADUAL_TARGET_DAYS = 7.0
TARGETS = {"precision": 0.95, "recall": 0.95, "false_alerts_per_1000_vehicle_days": 1.0}


@dataclass(frozen=True)
class Alert:
    vin: str
    rule_id: str
    raised_ms: int


@dataclass
class FaultScore:
    injected: int = 0
    failed: int = 0  # failed inside the scenario: these count for recall
    detected: int = 0
    true_alerts: int = 0
    false_alerts: int = 0
    leads_days: list[float] = field(default_factory=list)
    episodes_with_alerts: int = 0  # intermittent sensor only

    def summary(self, vehicle_days: float) -> dict[str, float | int | None]:
        alerts = self.true_alerts + self.false_alerts
        leads = np.array(self.leads_days)
        return {
            "precision": round(self.true_alerts / alerts, 4) if alerts else None,
            "recall": round(self.detected / self.failed, 4) if self.failed else None,
            "median_lead_days": round(float(np.median(leads)), 2) if len(leads) else None,
            "p10_lead_days": round(float(np.percentile(leads, 10)), 2) if len(leads) else None,
            "false_alerts_per_1000_vehicle_days": round(self.false_alerts / vehicle_days * 1000, 4),
            "injected": self.injected,
            "failed": self.failed,
            "detected": self.detected,
            "true_alerts": self.true_alerts,
            "false_alerts": self.false_alerts,
        }


@dataclass
class Scorecard:
    faults: dict[str, FaultScore]
    overall: FaultScore
    vehicle_days: float
    unattributed_false: dict[str, int]  # false alerts by rule, for tuning
    service_alerts: int
    incidents: int = 0
    true_incidents: int = 0

    def as_dict(self) -> dict[str, object]:
        faults: dict[str, object] = {}
        for name, score in self.faults.items():
            entry = score.summary(self.vehicle_days)
            if name == "intermittent_sensor":
                entry = {
                    "episodes": score.injected,
                    "episodes_with_maintenance_alerts": score.episodes_with_alerts,
                    "precision": None, "recall": None, "median_lead_days": None,
                    "false_alerts_per_1000_vehicle_days": entry["false_alerts_per_1000_vehicle_days"],
                    "false_alerts": score.false_alerts,
                }  # fmt: skip
            faults[name] = entry
        overall = self.overall.summary(self.vehicle_days)
        return {
            "overall": overall,
            "incidents": {
                "incidents": self.incidents,
                "true": self.true_incidents,
                "false": self.incidents - self.true_incidents,
                "precision": round(self.true_incidents / self.incidents, 4) if self.incidents else None,
                "recall": overall["recall"],
                "false_per_1000_vehicle_days": round(
                    (self.incidents - self.true_incidents) / self.vehicle_days * 1000, 4
                ),
                "alerts_per_incident": round(alert_count(self.overall) / self.incidents, 2) if self.incidents else None,
            },
            "faults": faults,
            "vehicle_days": round(self.vehicle_days, 1),
            "false_alerts_by_rule": dict(sorted(self.unattributed_false.items())),
            "scheduled_service_alerts": self.service_alerts,
            "targets_met": self.targets_met(),
        }

    def targets_met(self) -> bool:
        o = self.overall.summary(self.vehicle_days)
        ok = (o["precision"] or 0) >= TARGETS["precision"] and (o["recall"] or 0) >= TARGETS["recall"]
        ok &= float(o["false_alerts_per_1000_vehicle_days"] or 0) <= TARGETS["false_alerts_per_1000_vehicle_days"]
        for name, score in self.faults.items():
            if FAULT_BY_NAME[name].gradual and score.leads_days:
                ok &= float(np.median(score.leads_days)) >= GRADUAL_TARGET_DAYS
        return bool(ok)


def alert_count(score: FaultScore) -> int:
    """Alerts scored, true and false."""
    return score.true_alerts + score.false_alerts


def score(
    alerts: list[Alert],
    labels: list[Label],
    vehicle_days: float,
    service_alerts: int = 0,
    window_end_ms: int | None = None,
    incident_of: list[int] | None = None,
) -> Scorecard:
    """Failures after `window_end_ms` (seen by looking ahead) make alerts true but do not count
    for recall: the scenario ended before them. `incident_of` gives each alert's incident (by
    default each alert is its own)."""

    def failed(label: Label) -> bool:
        return label.failure_ms is not None and (window_end_ms is None or label.failure_ms <= window_end_ms)

    faults = {f.name: FaultScore() for f in (*FAULTS, WEAR_OUT)}
    overall = FaultScore()
    by_vin: dict[str, list[Label]] = defaultdict(list)
    for label in labels:
        by_vin[label.vin].append(label)
        faults[label.fault].injected += 1
        if failed(label) and label.fault != "intermittent_sensor":
            faults[label.fault].failed += 1
            overall.failed += 1
    overall.injected = sum(f.injected for n, f in faults.items() if n != "intermittent_sensor")
    first_true: dict[int, int] = {}  # id(label) -> first true alert
    wrong_episodes: set[int] = set()
    false_by_rule: dict[str, int] = defaultdict(int)
    incident_of = incident_of if incident_of is not None else list(range(len(alerts)))
    true_incidents: set[int] = set()
    for alert, incident in sorted(zip(alerts, incident_of, strict=True), key=lambda pair: pair[0].raised_ms):
        match = None
        for label in by_vin.get(alert.vin, ()):
            fault = FAULT_BY_NAME[label.fault]
            until = label.end_ms if label.end_ms is not None else np.iinfo(np.int64).max
            if label.onset_ms <= alert.raised_ms <= until and detects(fault, alert.rule_id, label.component):
                match = label
                break
        if match is not None:
            true_incidents.add(incident)
            faults[match.fault].true_alerts += 1
            overall.true_alerts += 1
            first_true.setdefault(id(match), alert.raised_ms)
            continue
        overall.false_alerts += 1
        false_by_rule[alert.rule_id] += 1
        owner = next((f for f in FAULTS if f.detectors and detects(f, alert.rule_id, "*")), None)
        if owner is not None:
            faults[owner.name].false_alerts += 1
        for label in by_vin.get(alert.vin, ()):
            if (
                label.fault == "intermittent_sensor"
                and label.onset_ms <= alert.raised_ms <= (label.end_ms or 0) + DAY_MS
                and any(fnmatchcase(alert.rule_id, p) for p in SENSOR_RULES[label.component])
            ):
                faults["intermittent_sensor"].false_alerts += 1
                wrong_episodes.add(id(label))
    for label in labels:
        first = first_true.get(id(label))
        if not failed(label) or first is None or label.failure_ms is None or first > label.failure_ms:
            continue
        lead = (label.failure_ms - first) / DAY_MS
        for s in (faults[label.fault], overall):
            s.detected += 1
            s.leads_days.append(lead)
    faults["intermittent_sensor"].episodes_with_alerts = len(wrong_episodes)
    return Scorecard(
        faults, overall, vehicle_days, dict(false_by_rule), service_alerts, len(set(incident_of)), len(true_incidents)
    )


def table(card: Scorecard) -> str:
    """The scorecard as a Markdown table (what docs/simulator.md shows)."""
    d = card.as_dict()

    def fmt(value: object, spec: str = ".3f") -> str:
        return "–" if value is None else format(value, spec)

    lines = [
        "| fault | injected | failed | detected | precision | recall | median lead (d) | p10 lead (d)"
        " | false / 1,000 vehicle-days |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    faults = d["faults"]
    assert isinstance(faults, dict)
    for name, e in faults.items():
        if name == "intermittent_sensor":
            lines.append(
                f"| {name} | {e['episodes']} episodes | | | | | | | {fmt(e['false_alerts_per_1000_vehicle_days'])}"
                f" ({e['episodes_with_maintenance_alerts']} episodes raised maintenance alerts) |"
            )
            continue
        lines.append(
            f"| {name} | {e['injected']} | {e['failed']} | {e['detected']} | {fmt(e['precision'])} | {fmt(e['recall'])}"
            f" | {fmt(e['median_lead_days'], '.1f')} | {fmt(e['p10_lead_days'], '.1f')}"
            f" | {fmt(e['false_alerts_per_1000_vehicle_days'])} |"
        )
    o = d["overall"]
    assert isinstance(o, dict)
    lines.append(
        f"| **overall** | {o['injected']} | {o['failed']} | {o['detected']} | **{fmt(o['precision'])}**"
        f" | **{fmt(o['recall'])}** | **{fmt(o['median_lead_days'], '.1f')}** | {fmt(o['p10_lead_days'], '.1f')}"
        f" | **{fmt(o['false_alerts_per_1000_vehicle_days'])}** |"
    )
    i = d["incidents"]
    assert isinstance(i, dict)
    lines.append(
        f"| **incidents** ({i['incidents']}, {fmt(i['alerts_per_incident'], '.2f')} alerts each) | | | |"
        f" **{fmt(i['precision'])}** | **{fmt(i['recall'])}** | | | **{fmt(i['false_per_1000_vehicle_days'])}** |"
    )
    return "\n".join(lines)
