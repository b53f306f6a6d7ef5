"""One condition of a rule file, read into a `Condition`: its kind's kernel parameters, gate and
residual, each value checked with an error that names the rule (`rules/definitions.py` reads the
rule around it)."""

from __future__ import annotations

import math

from rules.kernels.base import Kernel
from rules.kernels.dtc import DtcParams
from rules.kernels.episodes import MAX_COUNT as EPISODES_MAX_COUNT
from rules.kernels.episodes import EpisodeParams
from rules.kernels.rate import RateParams
from rules.kernels.stale import StaleParams
from rules.kernels.threshold import ThresholdParams
from rules.kernels.trend import TrendParams
from rules.kernels.zscore import ZScoreParams
from rules.model import (
    DTC_SIGNAL,
    Condition,
    Entry,
    Gate,
    Residual,
    parse_duration,
)
from telemetry import dtc
from telemetry.catalog import Catalog, Signal
from telemetry.errors import RuleDefinitionError


class Reader:
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
        signal = self.catalog.named(path) if isinstance(path, str) else None
        if signal is None:
            raise RuleDefinitionError(f"{self.where}: unknown signal {path!r}")
        if numeric and signal.kind != "number":
            raise RuleDefinitionError(f"{self.where}: signal {path!r} is not numeric")
        return signal

    def one_of(self, *keys: str) -> str:
        present = [k for k in keys if k in self.entry]
        if len(present) != 1:
            raise RuleDefinitionError(f"{self.where}: give exactly one of {', '.join(repr(k) for k in keys)}")
        return present[0]


def _threshold(r: Reader, signal: Signal) -> tuple[Kernel, float]:
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


def _rate(r: Reader, signal: Signal) -> tuple[Kernel, float]:
    falling = r.one_of("falls_faster_than", "rises_faster_than") == "falls_faster_than"
    per_hour = r.number("falls_faster_than" if falling else "rises_faster_than")
    if per_hour <= 0:
        raise RuleDefinitionError(f"{r.where}: the rate limit is per hour and must be positive")
    window = r.duration("window", "1h")
    return RateParams(per_hour, falling, window, r.duration("max_gap", f"{2 * window}ms")), per_hour


def _anomaly(r: Reader, signal: Signal) -> tuple[Kernel, float]:
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


def _trend(r: Reader, signal: Signal) -> tuple[Kernel, float]:
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


def _episodes(r: Reader, signal: Signal) -> tuple[Kernel, float]:
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


def stale_kernel(r: Reader) -> Kernel:
    return StaleParams(r.duration("after", "48h"))


SIGNAL_KINDS = {"threshold": _threshold, "rate": _rate, "anomaly": _anomaly, "trend": _trend, "episodes": _episodes}
KINDS = (*SIGNAL_KINDS, "stale", "dtc", "service_plan", "compound")


def _gate(r: Reader) -> Gate | None:
    entry = r.entry.get("when")
    if entry is None:
        return None
    g = Reader(entry, r.catalog, f"{r.where} 'when'")
    if "above" not in entry and "below" not in entry:
        raise RuleDefinitionError(f"{g.where}: give 'above', 'below' or both")
    gate = Gate(g.signal(), g.number("above", -math.inf), g.number("below", math.inf))
    if gate.above >= gate.below:
        raise RuleDefinitionError(f"{g.where}: 'above' must be less than 'below' (a band between them)")
    return gate


def _residual(r: Reader) -> Residual | None:
    entry = r.entry.get("residual")
    if entry is None:
        return None
    where = f"{r.where} 'residual'"
    inputs = tuple(Reader({"signal": p}, r.catalog, where).signal() for p in entry.get("inputs", []))
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


LEGACY_UNITS = {"celsius": "Celsius"}  # VSS before 6.0 spelled it so; rule files written then still load


def signal_condition(name: str, kind: str, r: Reader) -> Condition:
    # a boolean arrives as 0/1: episodes count it going on, a threshold times it (`above = 0.5, for = "2m"`)
    signal = r.signal(numeric=kind not in ("episodes", "threshold"))
    if signal.kind == "string_list":
        raise RuleDefinitionError(f"{r.where}: signal {signal.path!r} is a list of codes; use kind 'dtc'")
    if r.has("unit") and LEGACY_UNITS.get(r.entry["unit"], r.entry["unit"]) != signal.unit:
        raise RuleDefinitionError(
            f"{r.where}: bad unit {r.entry['unit']!r} for {signal.path!r}; the catalog stores it in {signal.unit!r}"
        )
    kernel, limit = SIGNAL_KINDS[kind](r, signal)
    return Condition(name, kind, signal, kernel, limit, _gate(r), _residual(r))


def read_condition(name: str, r: Reader) -> Condition:
    """A condition of a compound rule: any kind but compound, service_plan and a DTC list."""
    kind = r.entry.get("kind")
    if kind in SIGNAL_KINDS:
        return signal_condition(name, kind, r)
    if kind == "stale":
        return Condition(name, kind, None, stale_kernel(r))
    if kind == "dtc":
        code = r.entry.get("code")
        if not isinstance(code, str) or not dtc.is_valid(code):
            raise RuleDefinitionError(f"{r.where}: 'code' must be one OBD-II code such as 'P0217', got {code!r}")
        params = DtcParams(dtc.encode(code), r.count("clear_after", 1))
        return Condition(name, kind, r.catalog[DTC_SIGNAL], params, code=dtc.describe(code))
    known = ", ".join([*SIGNAL_KINDS, "stale", "dtc"])
    raise RuleDefinitionError(f"{r.where}: condition kind {kind!r} is not one of {known}")
