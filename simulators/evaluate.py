"""`telemetry evaluate`: a scenario's fleet through the rule engine, offline, then the scorecard.

The engine is the live one (`RuleEngine.evaluate` on each span, `tick` at its end, workshop
visits as service history), fed the messages the vehicles would have published; nothing goes
through MQTT or the database, so a simulated half year of a thousand vehicles takes minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rules.engine import RuleEngine
from rules.model import DTC_SIGNAL, Rule
from rules.outcome import Outcome, VehicleInfo
from simulators import physics as ph
from simulators.faults import Label
from simulators.fleet import DAY_S, Fleet, Span
from simulators.scenario import Scenario
from simulators.scorecard import Alert, Scorecard, score
from telemetry import dtc
from telemetry.catalog import Catalog
from telemetry.rulebatch import RuleBatch


@dataclass
class Evaluation:
    card: Scorecard
    labels: list[Label]
    alerts: list[Alert]
    messages: int
    samples: int
    seconds: float


# Ground truth is observed this far past the scored window, so that an alert about pads that
# wear out just after the scenario ends is not counted as false.
LOOK_AHEAD_DAYS = 45.0


class SpanConverter:
    """Wide message rows as the long rows (vehicle, ts, signal, value) the engine takes; every
    message carries its DTC list (empty: one NaN row), so that codes can clear."""

    def __init__(self, catalog: Catalog) -> None:
        self.ids = np.array([catalog[path].id for path in ph.COLUMNS], dtype=np.int16)
        self.dtc_id = catalog[DTC_SIGNAL].id
        self.dtc_values = np.array([dtc.encode(c) for c in ph.DTC_CODES])

    def batch(self, span: Span) -> RuleBatch:
        """Vehicle ids are the fleet's indices."""
        vid = span.vehicle
        parts = [RuleBatch.from_wide(vid, span.ts_ms, span.values, self.ids)]
        clean = span.dtc == 0
        parts.append(
            RuleBatch(
                vid[clean], span.ts_ms[clean], np.full(int(clean.sum()), self.dtc_id), np.full(int(clean.sum()), np.nan)
            )
        )
        for bit, value in enumerate(self.dtc_values):
            held = (span.dtc >> bit & 1).astype(bool)
            if held.any():
                n = int(held.sum())
                parts.append(RuleBatch(vid[held], span.ts_ms[held], np.full(n, self.dtc_id), np.full(n, value)))
        return RuleBatch.concat(parts)


class AlertTracker:
    """Outcomes as alerts: a firing opens one unless it is already open (a level change or an
    escalation updates it), a clearing closes it. Alerts are grouped into incidents as the server
    does (`telemetry.storage.incidents`): one per vehicle, system and component while any of its
    alerts is open, reopened by an alert less than `reopen_within_ms` after it closed."""

    def __init__(
        self, vin_of: list[str], skip_kinds: tuple[str, ...] = ("service_plan",), reopen_within_ms: int = 3_600_000
    ) -> None:
        self.vin_of = vin_of
        self.skip = skip_kinds
        self.reopen_within_ms = reopen_within_ms
        self.open: set[tuple[int, str]] = set()
        self.alerts: list[Alert] = []
        self.incident_of: list[int] = []  # per alert, its incident's number
        self.skipped = 0
        self._incident: dict[tuple[int, str, str], int] = {}  # the key's latest incident
        self._open_rules: dict[int, set[str]] = {}
        self._closed_at: dict[int, int] = {}

    def feed(self, outcomes: list[Outcome]) -> None:
        for o in outcomes:
            key = (o.vehicle_id, o.rule.id)
            if not o.fired:
                if key in self.open:
                    self.open.discard(key)
                    self._alert_closed(o)
            elif key not in self.open:
                self.open.add(key)
                if o.rule.kind in self.skip or o.rule.offer is not None:  # plans and sales leads: not faults
                    self.skipped += 1
                else:
                    self.alerts.append(Alert(self.vin_of[o.vehicle_id], o.rule.id, o.ts))
                    self.incident_of.append(self._incident_for(o))

    def _incident_for(self, o: Outcome) -> int:
        where = (o.vehicle_id, str(o.rule.system), o.rule.component)
        number = self._incident.get(where)
        reopen = number is not None and (
            number not in self._closed_at or o.ts - self._closed_at[number] < self.reopen_within_ms
        )
        if number is None or not reopen:
            number = len(self._open_rules)
            self._incident[where] = number
        self._closed_at.pop(number, None)
        self._open_rules.setdefault(number, set()).add(o.rule.id)
        return number

    def _alert_closed(self, o: Outcome) -> None:
        number = self._incident.get((o.vehicle_id, str(o.rule.system), o.rule.component))
        if number is None or o.rule.id not in self._open_rules[number]:
            return
        self._open_rules[number].discard(o.rule.id)
        if not self._open_rules[number]:
            self._closed_at[number] = o.ts


def evaluate(
    scenario: Scenario,
    rules: list[Rule],
    catalog: Catalog,
    on_span: Callable[[Fleet, Span], None] | None = None,
) -> Evaluation:
    started = time.monotonic()
    fleet = Fleet(scenario)
    engine = RuleEngine(rules)
    for i, model in enumerate(fleet.models):
        engine.register(VehicleInfo(i, model.powertrain, model.make, model.model))
        engine.set_service(i, int(fleet.last_service_ms[i]), float(fleet.last_service_km[i]))
    convert = SpanConverter(catalog)
    tracker = AlertTracker(fleet.vins)
    messages = samples = 0
    for span in fleet.spans():
        for visit in span.services:
            engine.set_service(visit.vehicle, visit.ts_ms, visit.odometer_km)
        batch = convert.batch(span)
        messages += len(span)
        samples += len(batch)
        tracker.feed(engine.evaluate(batch))
        tracker.feed(engine.tick(span.end_ms))
        if on_span is not None:
            on_span(fleet, span)
    window_end_ms = fleet.scenario.start_ms + int(scenario.days * DAY_S * 1000)
    for _ in fleet.spans(until_s=(scenario.days + LOOK_AHEAD_DAYS) * DAY_S):
        pass  # physics only: which wear-outs and failures were coming when the window closed
    labels = fleet.labels()
    card = score(
        tracker.alerts, labels, scenario.vehicles * scenario.days, tracker.skipped, window_end_ms, tracker.incident_of
    )
    return Evaluation(card, labels, tracker.alerts, messages, samples, time.monotonic() - started)
