"""Rules are data: TOML files validated against the signal catalog at load, with clear errors.

A rule is one or more conditions (each a kernel over one signal), combined by an expression, with
an optional hard level (a second condition that raises the severity) and an optional escalation
(a warning that lasts becomes critical). docs/rules.md documents every key.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from rules.conditions import KINDS, SIGNAL_KINDS, Reader, read_condition, signal_condition, stale_kernel
from rules.explain import sample_variables
from rules.expression import Expression
from rules.kernels.dtc import DtcParams
from rules.kernels.fold import MAX_CONDITIONS
from rules.kernels.service import DAY_MS, ServiceParams
from rules.model import (
    DTC_SIGNAL,
    ODOMETER,
    POWERTRAINS,
    SEVERITIES,
    Condition,
    Entry,
    Rule,
    Scope,
    parse_duration,
)
from telemetry import dtc
from telemetry.catalog import Catalog, Signal
from telemetry.errors import RuleDefinitionError
from telemetry.vocabulary import System


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


def _service_conditions(r: Reader) -> tuple[Condition, Condition]:
    plans: dict[str, tuple[float, float]] = {}
    for model, plan in r.entry.get("plans", {}).items():
        p = Reader(plan, r.catalog, f"{r.where} plan {model!r}")
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
    r = Reader(entry, catalog, where)
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
        **_system(entry, where),
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
        conditions = [read_condition(n, Reader(t, catalog, f"{where} condition {n!r}")) for n, t in tables.items()]
        expression = Expression(str(entry.get("condition", "")), {c.name for c in conditions}, where)
        base["unknown_after_ms"] = parse_duration(entry.get("unknown_after", "1h"), f"{where} 'unknown_after'")
    elif kind == "service_plan":
        conditions = list(_service_conditions(r))
        expression = Expression("due_soon", {"due_soon"}, where)
        hard_severity = _severity(entry.get("overdue_severity", "warning"), where)
    else:
        main = (
            signal_condition("main", kind, r)
            if kind in SIGNAL_KINDS
            else Condition("main", kind, None, stale_kernel(r))
        )
        conditions = [main]
        expression = Expression("main", {"main"}, where)
        if "hard" in entry:
            hard_where = f"{where} 'hard'"
            hard = Reader(_level_entry(entry, entry["hard"]), catalog, hard_where)
            hard_condition = signal_condition("hard", kind, hard) if kind in SIGNAL_KINDS else None
            conditions.append(hard_condition or Condition("hard", kind, None, stale_kernel(hard)))
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
_COMPONENT = re.compile(r"^[a-z0-9][a-z0-9 _-]{0,39}$")


def _system(entry: Entry, where: str) -> dict[str, object]:
    """`system` (and `component`, for one wheel); a rule file written before systems existed
    makes each of its rules an incident of its own (diagnostics, the rule's id as component)."""
    if "system" not in entry:
        return {"system": System.DIAGNOSTICS, "component": str(entry["id"])}
    try:
        system = System(entry["system"])
    except ValueError:
        raise RuleDefinitionError(f"{where}: unknown system {entry['system']!r}; known: {', '.join(System)}") from None
    component = entry.get("component", "")
    if not isinstance(component, str) or (component and not _COMPONENT.match(component)):
        raise RuleDefinitionError(f"{where}: 'component' is a short lowercase name such as 'front left'")
    return {"system": system, "component": component}


def _offer(entry: Entry, where: str) -> str | None:
    code = entry.get("offer")
    if code is not None and not (isinstance(code, str) and _FEATURE_CODE.match(code)):
        raise RuleDefinitionError(f"{where}: 'offer' is a feature code such as 'heated_seats', got {code!r}")
    return code


def _context_signal(catalog: Catalog, path: object, where: str) -> Signal:
    return Reader({"signal": path}, catalog, f"{where} 'context'").signal()


def _dtc_rules(r: Reader, base: dict[str, Any]) -> list[Rule]:
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
            "system": info.system,
            "component": info.component,
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
