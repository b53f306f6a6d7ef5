"""Fault types the simulator injects, how they are scheduled, and their ground truth (labels).

A fault has an onset (when it starts), a nominal progression (how long until it would fail) and
a failure point that the physics observes: a tyre at 58 % of its placard pressure, pads worn
through, a pack at the warranty limit. The label's failure time is when the simulated vehicle
actually crossed that point, not when it was planned to.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np

from simulators import physics as ph
from telemetry.errors import ConfigError

DAY_S = 86_400.0


@dataclass(frozen=True)
class FaultType:
    name: str
    code: int  # the kernel's F_* number
    what: str
    powertrains: tuple[str, ...]
    progression_days: tuple[float, float]
    gradual: bool  # a slow wear-out, where days of warning are the point
    detectors: tuple[str, ...]  # rule ids (fnmatch patterns; {wheel} is the faulty wheel) that detect it
    per_wheel: bool = False

    def detected_by(self, rule_id: str, component: str) -> bool:
        return any(fnmatchcase(rule_id, d.replace("{wheel}", component)) for d in self.detectors)


_TPMS = {w: f"dtc.{code}" for w, code in zip(ph.WHEELS, ph.DTC_CODES[ph.D_TPMS : ph.D_TPMS + 4], strict=True)}
FAULTS = (
    FaultType(
        "slow_puncture",
        ph.F_PUNCTURE,
        "a tyre slowly losing pressure",
        ("combustion", "electric"),
        (8, 40),
        True,
        ("tyre_low_{wheel}", "slow_puncture_{wheel}", "tyre_deflating_{wheel}"),
        per_wheel=True,
    ),
    FaultType(
        "overheating",
        ph.F_OVERHEAT,
        "thermostat stuck closed / coolant leak: overheating under load",
        ("combustion",),
        (3, 15),
        False,
        ("coolant_overtemp", "coolant_hotter_than_expected", "cooling_fan_suspect", "oil_overtemp", "dtc.P0217"),
    ),
    FaultType(
        "alternator",
        ph.F_ALTERNATOR,
        "failing alternator: 12 V sagging while driving",
        ("combustion",),
        (3, 20),
        False,
        ("alternator_not_charging", "battery_12v_*", "dtc.P0562", "dtc.P0620"),
    ),
    FaultType(
        "battery_12v",
        ph.F_BATTERY_12V,
        "ageing 12 V battery: resting voltage and cranking dips",
        ("combustion", "electric"),
        (30, 90),
        True,
        ("battery_12v_*", "dtc.P0562"),
    ),
    FaultType(
        "brake_wear",
        ph.F_BRAKES,
        "accelerated brake pad wear (sticking caliper)",
        ("combustion", "electric"),
        (30, 90),
        True,
        ("brake_pads_{wheel}", "dtc.C1234"),
        per_wheel=True,
    ),
    FaultType(
        "traction_battery",
        ph.F_TRACTION,
        "traction battery cell degradation",
        ("electric",),
        (30, 110),
        True,
        ("hv_battery_degradation", "dtc.P0A7F", "dtc.P0A80"),
    ),
    FaultType(
        "oil_loss",
        ph.F_OIL,
        "oil level / pressure loss",
        ("combustion",),
        (5, 30),
        False,
        ("oil_pressure_low", "oil_pressure_anomaly", "oil_overtemp", "dtc.P0524"),
    ),
    FaultType(
        "intermittent_sensor",
        ph.F_SENSOR,
        "intermittent sensor: spikes and dropouts, not a maintenance need",
        ("combustion", "electric"),
        (5, 30),
        False,
        (),
    ),
)
# Not injected: pads that reach their limit through normal use. Alerts about them are right, so
# the simulator labels each wear-out (from 45 days before the pads reach 90 % until they are
# replaced) and the scorecard counts it as a maintenance need of its own.
WEAR_OUT = FaultType(
    "pad_wear_out",
    -1,
    "brake pads worn out by normal use: a maintenance need, not a fault",
    ("combustion", "electric"),
    (45, 45),
    True,
    ("brake_pads_{wheel}", "dtc.C1234"),
    per_wheel=True,
)
WEAR_OUT_LIMIT = 90.0
FAULT_BY_NAME = {f.name: f for f in (*FAULTS, WEAR_OUT)}
INJECTABLE = {f.name for f in FAULTS}
SENSORS = {ph.SENSOR_COOLANT: "coolant_temperature", ph.SENSOR_OIL_PRESSURE: "oil_pressure",
           ph.SENSOR_PACK_TEMP: "traction_battery_temperature"}  # fmt: skip
# The alerts a flaky sensor could wrongly raise: those of rules that read it.
SENSOR_RULES = {
    "coolant_temperature": ("coolant_*", "cooling_fan_suspect", "dtc.P0217"),
    "oil_pressure": ("oil_pressure_*", "dtc.P0524"),
    "traction_battery_temperature": ("hv_battery_overtemp",),
}


def detects(fault: FaultType, rule_id: str, component: str) -> bool:
    """Whether an alert of `rule_id` is evidence of `fault` on `component` (a wheel for tyres and
    pads, `*`: any); the tyre pressure monitor's DTC is the one for that wheel."""
    if fault.code == ph.F_PUNCTURE and rule_id in (_TPMS.values() if component == "*" else (_TPMS.get(component),)):
        return True
    return fault.detected_by(rule_id, component)


@dataclass(frozen=True)
class FaultMix:
    """How many vehicles get each fault: `NAME:COUNT` or `NAME:PERCENT%`, comma-separated, each
    optionally with `@DAYS`, its progression (`overheating:2@0.01`: fails about 15 minutes after
    onset, for demos); `default` is 2.5 % of the fleet for every type; empty: none."""

    counts: dict[str, float]  # a count, or a negative share (-0.025: 2.5 % of the fleet)
    progression_days: dict[str, float] = field(default_factory=dict)  # overrides FaultType's range

    @classmethod
    def parse(cls, text: str) -> FaultMix:
        counts: dict[str, float] = {}
        progression: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if part == "default":
                counts |= {f.name: -0.025 for f in FAULTS}
                continue
            match = re.fullmatch(r"([a-z_0-9]+):(\d+(?:\.\d+)?)(%?)(?:@(\d+(?:\.\d+)?))?", part)
            if match is None or match.group(1) not in INJECTABLE:
                raise ConfigError(
                    f"fault spec {part!r}: use NAME:COUNT or NAME:PERCENT% with NAME one of " + ", ".join(INJECTABLE)
                )
            amount = float(match.group(2))
            counts[match.group(1)] = -amount / 100 if match.group(3) else amount
            if match.group(4) is not None:
                progression[match.group(1)] = max(float(match.group(4)), 1e-4)
        return cls(counts, progression)

    def count(self, name: str, fleet: int) -> int:
        amount = self.counts.get(name, 0)
        return round(-amount * fleet) if amount < 0 else int(amount)


@dataclass(frozen=True)
class Label:
    vin: str
    fault: str
    component: str
    onset_ms: int
    failure_ms: int | None  # None: had not failed when the scenario ended (or never fails: a sensor)
    end_ms: int | None  # repaired, or a sensor's episode over

    def row(self) -> dict[str, str]:
        def iso(ms: int | None) -> str:
            return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")

        return {
            "vin": self.vin, "fault": self.fault, "component": self.component,
            "onset": iso(self.onset_ms), "failure": iso(self.failure_ms), "end": iso(self.end_ms),
        }  # fmt: skip


LABEL_FIELDS = ("vin", "fault", "component", "onset", "failure", "end")


def write_labels(path: Path, labels: Iterable[Label]) -> None:
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, LABEL_FIELDS)
        out.writeheader()
        out.writerows(label.row() for label in labels)


def read_labels(path: Path) -> list[Label]:
    def ms(text: str) -> int | None:
        return int(datetime.fromisoformat(text).timestamp() * 1000) if text else None

    with path.open(newline="") as f:
        return [
            Label(r["vin"], r["fault"], r["component"], ms(r["onset"]) or 0, ms(r["failure"]), ms(r["end"]))
            for r in csv.DictReader(f)
        ]


def schedule(
    mix: FaultMix,
    electric: np.ndarray,
    km_per_day: np.ndarray,
    pads: np.ndarray,
    soh: np.ndarray,
    window_days: tuple[float, float],
    rng: np.random.Generator,
    params: np.ndarray,
) -> None:
    """Give vehicles their faults (at most one each) by writing the fault columns of `params`.
    Onsets fall inside `window_days` = (first onset, last nominal failure) where the
    progression allows; an evaluation leaves healthy history before and time after."""
    first, last = window_days
    free = np.ones(len(electric), dtype=bool)
    for fault in FAULTS:
        wanted = mix.count(fault.name, len(electric))
        if not wanted:
            continue
        eligible = free & np.isin(np.where(electric, "electric", "combustion"), fault.powertrains)
        chosen = rng.permutation(np.flatnonzero(eligible))[:wanted]
        if len(chosen) < wanted:
            raise ConfigError(f"only {len(chosen)} vehicles can take {fault.name} (asked for {wanted})")
        free[chosen] = False
        lo, hi = fault.progression_days
        if fault.name in mix.progression_days:
            lo = hi = mix.progression_days[fault.name]
        hi = min(hi, max(lo, last - first))
        progression = rng.uniform(lo, hi, len(chosen))
        onset = first + rng.uniform(0, 1, len(chosen)) * np.maximum(last - progression - first, 0)
        params[chosen, ph.P_FAULT] = fault.code
        params[chosen, ph.P_ONSET] = onset * DAY_S
        params[chosen, ph.P_RATE] = 1 / (progression * DAY_S)
        params[chosen, ph.P_REPAIR_AFTER] = rng.uniform(1, 4, len(chosen)) * DAY_S
        if fault.per_wheel:
            params[chosen, ph.P_COMPONENT] = rng.integers(0, 4, len(chosen))
        if fault.code == ph.F_BRAKES:  # the drag that wears the pads through in `progression` days
            worn = pads[chosen, params[chosen, ph.P_COMPONENT].astype(int)]
            params[chosen, ph.P_FAULT_ARG] = (100 - worn) / (progression * np.maximum(km_per_day[chosen], 5.0))
        elif fault.code == ph.F_TRACTION:
            params[chosen, ph.P_FAULT_ARG] = soh[chosen] - 74.0
        elif fault.code == ph.F_SENSOR:
            params[chosen, ph.P_COMPONENT] = np.where(
                electric[chosen],
                ph.SENSOR_PACK_TEMP,
                rng.choice([ph.SENSOR_COOLANT, ph.SENSOR_OIL_PRESSURE], len(chosen)),
            )
            params[chosen, ph.P_FAULT_ARG] = (onset + progression) * DAY_S


def component_name(fault: FaultType, component: int) -> str:
    if fault.per_wheel:
        return ph.WHEELS[component]
    if fault.code == ph.F_SENSOR:
        return SENSORS[component]
    return ""
