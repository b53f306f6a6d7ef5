"""Rules are data: TOML files validated against the signal catalog at load, with clear errors."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rules.kernels.threshold import ThresholdParams
from telemetry.catalog import Catalog, Signal
from telemetry.errors import RuleDefinitionError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
SEVERITIES = ("info", "warning", "critical")
POWERTRAINS = ("combustion", "hybrid", "electric")


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
class ThresholdRule:
    id: str
    version: int
    title: str
    severity: str
    signal: Signal
    params: ThresholdParams
    explanation: str
    scope: Scope
    source: str

    def explain(self, *, peak: float, duration_ms: int) -> str:
        return self.explanation.format(
            peak=peak,
            threshold=self.params.on_value,
            duration=humanize_ms(duration_ms),
            unit=unit_symbol(self.signal.unit),
        )


def parse_duration(text: object, where: str) -> int:
    match = _DURATION.match(str(text)) if isinstance(text, str) else None
    if match is None:
        raise RuleDefinitionError(f"{where}: bad window {text!r}; use a number and ms, s, m, h or d, e.g. '30s'")
    ms = int(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if ms <= 0:
        raise RuleDefinitionError(f"{where}: bad window {text!r}; it must be longer than zero")
    return ms


def humanize_ms(ms: int) -> str:
    seconds = ms // 1000
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def unit_symbol(unit: str | None) -> str:
    return {"celsius": "°C", "percent": "%", None: ""}.get(unit, unit or "")


def _threshold(entry: dict, catalog: Catalog, where: str) -> ThresholdRule:
    path = entry.get("signal")
    if path not in catalog.by_path:
        raise RuleDefinitionError(f"{where}: unknown signal {path!r}")
    signal = catalog.by_path[path]
    if signal.kind != "number":
        raise RuleDefinitionError(f"{where}: signal {path!r} is not numeric; a threshold needs numbers")
    if "unit" in entry and entry["unit"] != signal.unit:
        raise RuleDefinitionError(
            f"{where}: bad unit {entry['unit']!r} for {path!r}; the catalog stores it in {signal.unit!r}"
        )
    if ("above" in entry) == ("below" in entry):
        raise RuleDefinitionError(f"{where}: give exactly one of 'above' or 'below'")
    above = "above" in entry
    on_value = float(entry["above" if above else "below"])
    off_key = "clear_below" if above else "clear_above"
    off_value = float(entry.get(off_key, on_value))
    if (above and off_value > on_value) or (not above and off_value < on_value):
        raise RuleDefinitionError(f"{where}: '{off_key}' must lie on the safe side of the threshold")
    severity = entry.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleDefinitionError(f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    scope_entry = entry.get("scope", {})
    bad = set(scope_entry.get("powertrain", [])) - set(POWERTRAINS)
    if bad:
        raise RuleDefinitionError(f"{where}: unknown powertrain(s) {sorted(bad)} in scope")
    explanation = entry.get("explanation", "{peak:.1f} {unit} beyond {threshold:.1f} {unit} for {duration}")
    params = ThresholdParams(
        on_value=on_value,
        on_ms=parse_duration(entry.get("for", "1ms"), f"{where} 'for'"),
        off_value=off_value,
        off_ms=parse_duration(entry.get("clear_for", "1ms"), f"{where} 'clear_for'"),
        max_gap_ms=parse_duration(entry.get("max_gap", "60s"), f"{where} 'max_gap'"),
        above=above,
    )
    rule = ThresholdRule(
        id=str(entry["id"]),
        version=int(entry.get("version", 1)),
        title=str(entry.get("title", entry["id"])),
        severity=severity,
        signal=signal,
        params=params,
        explanation=explanation,
        scope=Scope(
            frozenset(scope_entry.get("powertrain", [])),
            frozenset(scope_entry.get("make", [])),
            frozenset(scope_entry.get("model", [])),
        ),
        source=where,
    )
    try:
        rule.explain(peak=on_value, duration_ms=params.on_ms)
    except (KeyError, IndexError, ValueError) as exc:
        raise RuleDefinitionError(f"{where}: explanation template is invalid: {exc}") from exc
    return rule


KINDS = {"threshold": _threshold}


def parse_rules(text: str, catalog: Catalog, source: str) -> list[ThresholdRule]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleDefinitionError(f"{source}: {exc}") from exc
    rules = []
    for i, entry in enumerate(data.get("rule", [])):
        where = f"{source} rule #{i + 1} ({entry.get('id', '?')})"
        if "id" not in entry:
            raise RuleDefinitionError(f"{where}: missing 'id'")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise RuleDefinitionError(f"{where}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
        rules.append(KINDS[kind](entry, catalog, where))
    return rules


def load_rules(catalog: Catalog, directory: Path | None = None) -> list[ThresholdRule]:
    """Every `*.toml` in `directory` (default: the packaged library), ids unique across files."""
    if directory is None:
        files = sorted(
            (f.name, f.read_text("utf-8"))
            for f in resources.files("rules.library").iterdir()
            if f.name.endswith(".toml")
        )
    else:
        files = sorted((str(p), p.read_text("utf-8")) for p in Path(directory).glob("*.toml"))
    rules: list[ThresholdRule] = []
    seen: dict[str, str] = {}
    for name, text in files:
        for rule in parse_rules(text, catalog, name):
            if rule.id in seen:
                raise RuleDefinitionError(f"{name}: rule id {rule.id!r} is also defined in {seen[rule.id]}")
            seen[rule.id] = name
            rules.append(rule)
    return rules
