"""The rule model: what a loaded rule is (conditions over kernels, scope, gate, residual), and the
few words shared by whoever shows one (durations, units). `rules/definitions.py` builds these from
TOML; the engine and the explanations read them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rules.expression import Expression
from rules.kernels.base import Kernel
from telemetry import dtc
from telemetry.catalog import Signal
from telemetry.errors import RuleDefinitionError
from telemetry.vocabulary import Powertrain, Severity, System

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
SEVERITIES = tuple(Severity)
POWERTRAINS = tuple(Powertrain)
ODOMETER = "Vehicle.TraveledDistance"
DTC_SIGNAL = "Vehicle.Diagnostics.DTCList"
Entry = Mapping[str, Any]


@dataclass(frozen=True)
class Scope:
    """Which vehicles a rule applies to; an empty set means all."""

    powertrains: frozenset[str] = frozenset()
    makes: frozenset[str] = frozenset()
    models: frozenset[str] = frozenset()

    def applies(self, *, powertrain: str, make: str, model: str) -> bool:
        return (
            (not self.powertrains or powertrain in self.powertrains)
            and (not self.makes or make in self.makes)
            and (not self.models or model in self.models)
        )


@dataclass(frozen=True)
class Gate:
    """Only samples taken while another signal of the same message is above a value, below one,
    or between the two ("while parked": speed below 1 km/h; "at rest": current between -5 and 1 A)."""

    signal: Signal
    above: float = -math.inf
    below: float = math.inf

    def passes(self, values: np.ndarray) -> np.ndarray:
        """Where the gate signal is inside the band (NaN, i.e. absent from the message: never)."""
        with np.errstate(invalid="ignore"):
            return (values > self.above) & (values < self.below)


@dataclass(frozen=True)
class Residual:
    """Evaluate `signal - (c0 + c1 * input1 + ...)` instead of the signal: what the vehicle's model
    predicts from its inputs is taken out (a hot day or a heavy load is not a fault)."""

    inputs: tuple[Signal, ...]
    coefficients: Mapping[str, tuple[float, ...]]  # model name (or "default") -> c0, c1, ...

    def for_model(self, model: str) -> tuple[float, ...] | None:
        return self.coefficients.get(model) or self.coefficients.get("default")


@dataclass(frozen=True, eq=False)
class Condition:
    """One kernel over one signal (or over any signal: `signal` None)."""

    name: str
    kind: str
    signal: Signal | None
    kernel: Kernel
    limit: float = float("nan")  # the threshold or limit, for explanations
    gate: Gate | None = None
    residual: Residual | None = None
    plans: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # model -> (km, months)
    code: dtc.CodeInfo | None = None


@dataclass(frozen=True, eq=False)
class Rule:
    id: str
    version: int
    kind: str
    title: str
    severity: str
    explanation: str
    scope: Scope
    source: str
    conditions: tuple[Condition, ...]  # the hard level, when there is one, is last
    expression: Expression
    hard_severity: str | None = None  # set when the rule has a hard level
    escalate_after_ms: int | None = None
    escalate_severity: str = "critical"
    context: tuple[tuple[str, Signal], ...] = ()
    offer: str | None = None  # a software option's code: the rule finds a sales lead, not a fault
    system: System = System.DIAGNOSTICS  # alerts of one vehicle, system and component form one incident
    component: str = ""  # one wheel of a per-wheel system ("front left"); "" for the whole system
    unknown_after_ms: int = 3_600_000  # compound rules: a condition whose signal is this old is unknown

    @property
    def hard(self) -> Condition | None:
        return self.conditions[-1] if self.hard_severity is not None else None

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


def parse_duration(text: object, where: str, *, zero: bool = False) -> int:
    """Milliseconds from '30s', '15m', '4h', '90d'; '0s' only where `zero` (at once) makes sense."""
    match = _DURATION.match(str(text)) if isinstance(text, str) else None
    if match is None:
        raise RuleDefinitionError(f"{where}: bad window {text!r}; use a number and ms, s, m, h or d, e.g. '30s'")
    ms = int(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if ms < 0 or (ms == 0 and not zero):
        raise RuleDefinitionError(f"{where}: bad window {text!r}; it must be longer than zero")
    return ms


def humanize_ms(ms: float) -> str:
    seconds = int(ms // 1000)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def unit_symbol(unit: str | None) -> str:
    return {"Celsius": "°C", "celsius": "°C", "percent": "%", None: ""}.get(unit, unit or "")
