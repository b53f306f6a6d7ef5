"""Rules are data: TOML files validated against the signal catalog at load, with clear errors.

A rule is one or more conditions (each a kernel over one signal), combined by an expression, with
an optional hard level (a second condition that raises the severity) and an optional escalation
(a warning that lasts becomes critical). docs/rules.md documents every key.
"""

from __future__ import annotations

import math
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from rules.explain import sample_variables
from rules.expression import Expression
from rules.kernels.base import Kernel
from rules.kernels.dtc import DtcParams
from rules.kernels.episodes import MAX_COUNT as EPISODES_MAX_COUNT
from rules.kernels.episodes import EpisodeParams
from rules.kernels.fold import MAX_CONDITIONS
from rules.kernels.rate import RateParams
from rules.kernels.service import DAY_MS, ServiceParams
from rules.kernels.stale import StaleParams
from rules.kernels.threshold import ThresholdParams
from rules.kernels.trend import TrendParams
from rules.kernels.zscore import ZScoreParams
from rules.model import (
    DTC_SIGNAL,
    ODOMETER,
    POWERTRAINS,
    SEVERITIES,
    Condition,
    Entry,
    Gate,
    Residual,
    Rule,
    Scope,
    parse_duration,
)
from telemetry import dtc
from telemetry.catalog import Catalog, Signal
from telemetry.errors import RuleDefinitionError


class _Reader:
    """Typed access to one TOML table, naming the rule in every error."""

    def __init__(self, entry: Entry, catalog: Catalog, where: str) -> None:
        self.entry, self.catalog, self.where = entry, catalog, where

    def has(self, key: str) -> bool:
        return key in self.entry

    def number(self, key: str, default: float | None = None) -> float:
        value = self.entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleDefinitionError(f"{self.where}: '{key}' must be a number, got {value!r}")
        return float(value)

    def count(self, key: str, default: int) -> int:
        value = self.entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RuleDefinitionError(f"{self.where}: '{key}' must be a whole number of at least 1, got {value!r}")
        return value

    def duration(self, key: str, default: str, *, zero: bool = False) -> int:
        return parse_duration(self.entry.get(key, default), f"{self.where} '{key}'", zero=zero)

    def signal(self, key: str = "signal", *, numeric: bool = True) -> Signal:
        path = self.entry.get(key)
        if path not in self.catalog.by_path:
            raise RuleDefinitionError(f"{self.where}: unknown signal {path!r}")
        signal = self.catalog.by_path[path]
        if numeric and signal.kind != "number":
            raise RuleDefinitionError(f"{self.where}: signal {path!r} is not numeric")
        return signal

    def one_of(self, *keys: str) -> str:
        present = [k for k in keys if k in self.entry]
        if len(present) != 1:
            raise RuleDefinitionError(f"{self.where}: give exactly one of {', '.join(repr(k) for k in keys)}")
        return present[0]


def _threshold(r: _Reader, signal: Signal) -> tuple[Kernel, float]:
    above = r.one_of("above", "below") == "above"
    on_value = r.number("above" if above else "below")
    off_key = "clear_below" if above else "clear_above"
    off_value = r.number(off_key, on_value)
    if (above and off_value > on_value) or (not above and off_value < on_value):
        raise RuleDefinitionError(f"{r.where}: '{off_key}' must lie on the safe side of the threshold")
    params = ThresholdParams(
        on_value=on_value,
        on_ms=r.duration("for", "0s", zero=True),
        off_value=off_value,
        off_ms=r.duration("clear_for", "0s", zero=True),
        max_gap_ms=r.duration("max_gap", "60s"),
        above=above,
    )
    return params, on_value


def _rate(r: _Reader, signal: Signal) -> tuple[Kernel, float]:
    falling = r.one_of("falls_faster_than", "rises_faster_than") == "falls_faster_than"
    per_hour = r.number("falls_faster_than" if falling else "rises_faster_than")
    if per_hour <= 0:
        raise RuleDefinitionError(f"{r.where}: the rate limit is per hour and must be positive")
    window = r.duration("window", "1h")
    return RateParams(per_hour, falling, window, r.duration("max_gap", f"{2 * window}ms")), per_hour


def _anomaly(r: _Reader, signal: Signal) -> tuple[Kernel, float]:
    z_on = r.number("z", 4.0)
    z_off = r.number("clear_z", z_on / 2)
    if not 0 < z_off <= z_on:
        raise RuleDefinitionError(f"{r.where}: need 0 < clear_z <= z")
    direction = {"both": 0, "above": 1, "below": -1}.get(r.entry.get("direction", "both"))
    if direction is None:
        raise RuleDefinitionError(f"{r.where}: 'direction' is one of both, above, below")
    halflife = r.number("halflife", 200)  # samples
    min_run = r.count("min_run", 5)
    params = ZScoreParams(
        alpha=1.0 - 0.5 ** (1.0 / halflife),
        z_on=z_on,
        z_off=z_off,
        warmup=r.count("warmup", 100),
        min_run=min_run,
        clear_run=r.count("clear_run", min_run),
        min_sd=r.number("min_sd", 1e-6),
        max_gap_ms=r.duration("max_gap", "10m"),
        direction=direction,
    )
    return params, z_on


def _trend(r: _Reader, signal: Signal) -> tuple[Kernel, float]:
    falling = r.one_of("falls_to", "rises_to") == "falls_to"
    limit = r.number("falls_to" if falling else "rises_to")
    window = r.count("window", 30)
    horizon = r.duration("horizon", "30d")
    clear_horizon = r.duration("clear_horizon", f"{2 * horizon}ms")
    if clear_horizon < horizon:
        raise RuleDefinitionError(f"{r.where}: 'clear_horizon' must not be shorter than 'horizon'")
    min_points = r.count("min_points", min(7, window))
    if not 2 <= min_points <= window:
        raise RuleDefinitionError(f"{r.where}: need 2 <= min_points <= window")
    params = TrendParams(limit, falling, r.duration("step", "1d"), window, min_points, horizon, clear_horizon)
    return params, limit


def _episodes(r: _Reader, signal: Signal) -> tuple[Kernel, float]:
    above = r.one_of("above", "below") == "above"
    on_value = r.number("above" if above else "below")
    count = r.count("count", 1)
    if not 1 <= count <= EPISODES_MAX_COUNT:
        raise RuleDefinitionError(f"{r.where}: 'count' must be 1..{EPISODES_MAX_COUNT}")
    params = EpisodeParams(
        on_value=on_value,
        above=above,
        min_ms=r.duration("for", "0s", zero=True),
        count=count,
        window_ms=r.duration("within", "30d"),
        max_gap_ms=r.duration("max_gap", "10m"),
    )
    return params, on_value


def _stale(r: _Reader) -> Kernel:
    return StaleParams(r.duration("after", "48h"))


SIGNAL_KINDS = {"threshold": _threshold, "rate": _rate, "anomaly": _anomaly, "trend": _trend, "episodes": _episodes}
KINDS = (*SIGNAL_KINDS, "stale", "dtc", "service_plan", "compound")


def _gate(r: _Reader) -> Gate | None:
    entry = r.entry.get("when")
    if entry is None:
        return None
    g = _Reader(entry, r.catalog, f"{r.where} 'when'")
    if "above" not in entry and "below" not in entry:
        raise RuleDefinitionError(f"{g.where}: give 'above', 'below' or both")
    gate = Gate(g.signal(), g.number("above", -math.inf), g.number("below", math.inf))
    if gate.above >= gate.below:
        raise RuleDefinitionError(f"{g.where}: 'above' must be less than 'below' (a band between them)")
    return gate


def _residual(r: _Reader) -> Residual | None:
    entry = r.entry.get("residual")
    if entry is None:
        return None
    where = f"{r.where} 'residual'"
    inputs = tuple(_Reader({"signal": p}, r.catalog, where).signal() for p in entry.get("inputs", []))
    if not inputs:
        raise RuleDefinitionError(f"{where}: give the 'inputs' the signal is predicted from")
    coefficients = {}
    for model, values in entry.get("coefficients", {}).items():
        if not isinstance(values, list) or len(values) != len(inputs) + 1:
            raise RuleDefinitionError(
                f"{where}: coefficients for {model!r} must be {len(inputs) + 1} numbers (intercept, then one per input)"
            )
        coefficients[model] = tuple(float(v) for v in values)
    if not coefficients:
        raise RuleDefinitionError(f"{where}: give 'coefficients' per model (or 'default')")
    return Residual(inputs, coefficients)


def _signal_condition(name: str, kind: str, r: _Reader) -> Condition:
    signal = r.signal(numeric=kind != "episodes")  # episodes also count a boolean (0/1) going on
    if signal.kind == "string_list":
        raise RuleDefinitionError(f"{r.where}: signal {signal.path!r} is a list of codes; use kind 'dtc'")
    if r.has("unit") and r.entry["unit"] != signal.unit:
        raise RuleDefinitionError(
            f"{r.where}: bad unit {r.entry['unit']!r} for {signal.path!r}; the catalog stores it in {signal.unit!r}"
        )
    kernel, limit = SIGNAL_KINDS[kind](r, signal)
    return Condition(name, kind, signal, kernel, limit, _gate(r), _residual(r))


def _condition(name: str, r: _Reader) -> Condition:
    """A condition of a compound rule: any kind but compound, service_plan and a DTC list."""
    kind = r.entry.get("kind")
    if kind in SIGNAL_KINDS:
        return _signal_condition(name, kind, r)
    if kind == "stale":
        return Condition(name, kind, None, _stale(r))
    if kind == "dtc":
        code = r.entry.get("code")
        if not isinstance(code, str) or not dtc.is_valid(code):
            raise RuleDefinitionError(f"{r.where}: 'code' must be one OBD-II code such as 'P0217', got {code!r}")
        params = DtcParams(dtc.encode(code), r.count("clear_after", 1))
        return Condition(name, kind, r.catalog[DTC_SIGNAL], params, code=dtc.describe(code))
    known = ", ".join([*SIGNAL_KINDS, "stale", "dtc"])
    raise RuleDefinitionError(f"{r.where}: condition kind {kind!r} is not one of {known}")


def _severity(value: object, where: str) -> str:
    if value not in SEVERITIES:
        raise RuleDefinitionError(f"{where}: severity {value!r} is not one of {', '.join(SEVERITIES)}")
    return str(value)


def _scope(entry: Entry, where: str) -> Scope:
    scope = entry.get("scope", {})
    bad = set(scope.get("powertrain", [])) - set(POWERTRAINS)
    if bad:
        raise RuleDefinitionError(f"{where}: unknown powertrain(s) {sorted(bad)} in scope")
    return Scope(
        frozenset(scope.get("powertrain", [])), frozenset(scope.get("make", [])), frozenset(scope.get("model", []))
    )


def _service_conditions(r: _Reader) -> tuple[Condition, Condition]:
    plans: dict[str, tuple[float, float]] = {}
    for model, plan in r.entry.get("plans", {}).items():
        p = _Reader(plan, r.catalog, f"{r.where} plan {model!r}")
        plans[model] = (p.number("km"), p.number("months"))
    if not plans:
        raise RuleDefinitionError(f"{r.where}: give 'plans' per model (or 'default'), each with km and months")
    odometer = r.catalog[ODOMETER]
    soon = ServiceParams(r.number("due_soon_km", 1000), r.count("due_soon_days", 30) * DAY_MS)
    return (
        Condition("due_soon", "service_plan", odometer, soon, plans=plans),
        Condition("overdue", "service_plan", odometer, ServiceParams(0.0, 0), plans=plans),
    )


def _rule(entry: Entry, catalog: Catalog, where: str) -> list[Rule]:
    r = _Reader(entry, catalog, where)
    kind = entry.get("kind")
    if kind not in KINDS:
        raise RuleDefinitionError(f"{where}: unknown kind {kind!r}; known: {', '.join(KINDS)}")
    base = {
        "id": str(entry["id"]),
        "version": int(entry.get("version", 1)),
        "kind": kind,
        "title": str(entry.get("title", entry["id"])),
        "severity": _severity(entry.get("severity", "warning"), where),
        "explanation": str(entry.get("explanation", DEFAULT_EXPLANATIONS[kind])),
        "scope": _scope(entry, where),
        "source": where,
        "context": tuple(
            (name, _context_signal(catalog, path, where)) for name, path in entry.get("context", {}).items()
        ),
        "offer": _offer(entry, where),
    }
    escalate = entry.get("escalate_after")
    if escalate is not None:
        base["escalate_after_ms"] = parse_duration(escalate, f"{where} 'escalate_after'")
        base["escalate_severity"] = _severity(entry.get("escalate_to", "critical"), where)
    if kind == "dtc":
        return _dtc_rules(r, base)
    hard_severity = None
    if kind == "compound":
        tables = entry.get("conditions", {})
        if not tables:
            raise RuleDefinitionError(f"{where}: a compound rule needs [rule.conditions.NAME] tables")
        if len(tables) > MAX_CONDITIONS:
            raise RuleDefinitionError(f"{where}: at most {MAX_CONDITIONS} conditions in a compound rule")
        conditions = [_condition(n, _Reader(t, catalog, f"{where} condition {n!r}")) for n, t in tables.items()]
        expression = Expression(str(entry.get("condition", "")), {c.name for c in conditions}, where)
    elif kind == "service_plan":
        conditions = list(_service_conditions(r))
        expression = Expression("due_soon", {"due_soon"}, where)
        hard_severity = _severity(entry.get("overdue_severity", "warning"), where)
    else:
        main = _signal_condition("main", kind, r) if kind in SIGNAL_KINDS else Condition("main", kind, None, _stale(r))
        conditions = [main]
        expression = Expression("main", {"main"}, where)
        if "hard" in entry:
            hard_where = f"{where} 'hard'"
            hard = _Reader(_level_entry(entry, entry["hard"]), catalog, hard_where)
            hard_condition = _signal_condition("hard", kind, hard) if kind in SIGNAL_KINDS else None
            conditions.append(hard_condition or Condition("hard", kind, None, _stale(hard)))
            hard_severity = _severity(entry["hard"].get("severity", "critical"), hard_where)
    rule = Rule(conditions=tuple(conditions), expression=expression, hard_severity=hard_severity, **base)
    _check_explanation(rule)
    return [rule]


_EXCLUSIVE = (("above", "below"), ("falls_faster_than", "rises_faster_than"), ("falls_to", "rises_to"))


def _level_entry(entry: Entry, overrides: Entry) -> dict[str, Any]:
    """The rule's keys with a level's overrides on top; a level giving `below` drops the rule's
    `above` (and so on for each pair of exclusive keys)."""
    merged = {k: v for k, v in entry.items() if k != "hard"} | dict(overrides)
    for pair in _EXCLUSIVE:
        if any(k in overrides for k in pair):
            for k in pair:
                if k not in overrides:
                    merged.pop(k, None)
    return merged


_FEATURE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def _offer(entry: Entry, where: str) -> str | None:
    code = entry.get("offer")
    if code is not None and not (isinstance(code, str) and _FEATURE_CODE.match(code)):
        raise RuleDefinitionError(f"{where}: 'offer' is a feature code such as 'heated_seats', got {code!r}")
    return code


def _context_signal(catalog: Catalog, path: object, where: str) -> Signal:
    return _Reader({"signal": path}, catalog, f"{where} 'context'").signal()


def _dtc_rules(r: _Reader, base: dict[str, Any]) -> list[Rule]:
    """One rule per code, `{id}.{code}`, so each code is its own alert with its own severity."""
    codes = r.entry.get("codes", "all")
    if codes == "all":
        codes = sorted(dtc.obd2_table())
    if not isinstance(codes, list) or not codes or not all(dtc.is_valid(c) for c in codes):
        raise RuleDefinitionError(f"{r.where}: 'codes' is \"all\" or a list of OBD-II codes such as 'P0217'")
    signal = r.catalog[DTC_SIGNAL]
    clear_after = r.count("clear_after", 1)
    rules = []
    for code in codes:
        info = dtc.describe(code)
        condition = Condition("main", "dtc", signal, DtcParams(dtc.encode(code), clear_after), code=info)
        fields = {
            **base,
            "id": f"{base['id']}.{code}",
            "title": f"{code}: {info.description}",
            "severity": info.severity if "severity" not in r.entry else base["severity"],
        }
        rule = Rule(conditions=(condition,), expression=Expression("main", {"main"}, r.where), **fields)
        _check_explanation(rule)
        rules.append(rule)
    return rules


DEFAULT_EXPLANATIONS = {
    "threshold": "{peak:.1f} {unit} beyond {threshold:.1f} {unit} for {duration}",
    "rate": "{signal} changed by {rate:+.1f} {unit}/h (limit {limit:.1f} {unit}/h); now {now:.1f} {unit}",
    "anomaly": "{z:.1f} standard deviations from this vehicle's usual {mean:.1f} {unit}, for {duration}",
    "trend": "{level:.1f} {unit} and heading for {limit:.1f} {unit} in about {days_left:.0f} days ({projected_date})",
    "stale": "no telemetry for {silence}",
    "episodes": "{count:.0f} times {signal} beyond {threshold:g} {unit} within {window}",
    "dtc": "{code}: {description}",
    "service_plan": (
        "{km:,.0f} km and {days:.0f} days since the last service;"
        " the plan is every {interval_km:,.0f} km or {interval_months:.0f} months"
    ),
    "compound": "{title}",
}


def _check_explanation(rule: Rule) -> None:
    for condition in rule.conditions:
        try:
            rule.explanation.format(**sample_variables(rule, condition))
        except (KeyError, IndexError, ValueError) as exc:
            raise RuleDefinitionError(f"{rule.source}: explanation template is invalid: {exc!r}") from exc


def parse_rules(text: str, catalog: Catalog, source: str) -> list[Rule]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleDefinitionError(f"{source}: {exc}") from exc
    rules = []
    for i, entry in enumerate(data.get("rule", [])):
        where = f"{source} rule #{i + 1} ({entry.get('id', '?')})"
        if "id" not in entry:
            raise RuleDefinitionError(f"{where}: missing 'id'")
        rules += _rule(entry, catalog, where)
    return rules


def load_rules(catalog: Catalog, directory: Path | None = None) -> list[Rule]:
    """Every `*.toml` in `directory` (default: the packaged library), ids unique across files."""
    if directory is None:
        files = sorted(
            (f.name, f.read_text("utf-8"))
            for f in resources.files("rules.library").iterdir()
            if f.name.endswith(".toml")
        )
    else:
        files = sorted((str(p), p.read_text("utf-8")) for p in Path(directory).glob("*.toml"))
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for name, text in files:
        for rule in parse_rules(text, catalog, name):
            if rule.id in seen:
                raise RuleDefinitionError(f"{name}: rule id {rule.id!r} is also defined in {seen[rule.id]}")
            seen[rule.id] = name
            rules.append(rule)
    return rules
