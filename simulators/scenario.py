"""A scenario: which fleet, for how long, with which faults. Written as `key=value` pairs
(spaces or semicolons between them), e.g. `vehicles=1000 days=180 seed=7 faults=default`, or as
the path of a TOML file with the same keys."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

from simulators.faults import FaultMix
from simulators.usage import USAGES
from telemetry.errors import ConfigError


@dataclass(frozen=True)
class Scenario:
    vehicles: int = 1000
    days: float = 180.0
    seed: int = 1
    start: date = date(2026, 1, 5)  # a Monday; the simulated clock starts at its midnight UTC
    faults: str = "default"  # see FaultMix
    drive_interval_s: float = 10.0  # one message every ... while driving
    park_interval_s: float = 3600.0  # ... and while parked
    buffering: float = 0.1  # share of vehicles that buffer and send Arrow batches (when publishing)
    usage: str = "mixed"  # mixed: commuters, long trips, weekend drivers, vans; always: on the road round the clock

    @property
    def fault_mix(self) -> FaultMix:
        return FaultMix.parse(self.faults)

    @property
    def start_ms(self) -> int:
        return int((self.start - date(1970, 1, 1)).days) * 86_400_000

    @classmethod
    def parse(cls, spec: str) -> Scenario:
        path = Path(spec)
        if spec.endswith(".toml") or (path.is_file() and "=" not in spec):
            try:
                entries = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"scenario {spec}: {exc}") from exc
            return cls().with_values({k: str(v) for k, v in entries.items()})
        pairs = {}
        for part in spec.replace(";", " ").split():
            key, sep, value = part.partition("=")
            if not sep:
                raise ConfigError(f"scenario: {part!r} is not key=value")
            pairs[key.strip()] = value.strip()
        return cls().with_values(pairs)

    def with_values(self, pairs: dict[str, str]) -> Scenario:
        types = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}  # each converted to its field's type by `_convert`
        for key, text in pairs.items():
            if key not in types:
                raise ConfigError(f"scenario: unknown key {key!r}; keys: {', '.join(types)}")
            try:
                changes[key] = _convert(types[key], text)
            except ValueError as exc:
                raise ConfigError(f"scenario: {key}={text!r}: {exc}") from exc
        scenario = replace(self, **changes)
        scenario.check()
        return scenario

    def check(self) -> None:
        if self.vehicles < 1 or self.days <= 0:
            raise ConfigError("scenario: vehicles and days must be positive")
        if not 0 < self.drive_interval_s <= self.park_interval_s:
            raise ConfigError("scenario: need 0 < drive_interval_s <= park_interval_s")
        if self.usage not in USAGES:
            raise ConfigError(f"scenario: usage is one of {', '.join(USAGES)}")
        if not 0 <= self.buffering <= 1:
            raise ConfigError("scenario: buffering is a share between 0 and 1")
        self.fault_mix  # noqa: B018 - parses, so a bad fault list fails here


def _convert(kind: object, text: str) -> object:
    if kind in (int, "int"):
        return int(text)
    if kind in (float, "float"):
        return float(text)
    if kind in (date, "date"):
        return date.fromisoformat(text)
    return text
