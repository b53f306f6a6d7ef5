"""The signal catalog: which VSS signals the server accepts, their types, units and valid ranges.

The data lives in `signals.toml` (a data file, not code). This module loads and checks it once and
builds, per VSS major version, the lookup the decoder uses: sent path -> (signal, scale, offset).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from telemetry.errors import CatalogError

NUMERIC_TYPES = frozenset({"float", "double", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})
KINDS = {**dict.fromkeys(NUMERIC_TYPES, "number"), "boolean": "boolean", "string[]": "string_list"}
_COLUMN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PINNED_MAJOR = 6


@dataclass(frozen=True, slots=True)
class Signal:
    id: int
    path: str
    column: str
    datatype: str
    unit: str | None
    min: float | None
    max: float | None
    group: str
    description: str
    overlay: bool = False

    @property
    def kind(self) -> str:
        """`number`, `boolean` or `string_list`: how the decoder checks and stores a value."""
        return KINDS[self.datatype]

    def describe_range(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{_fmt(self.min)}..{_fmt(self.max)}{unit}"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a sent path means for one VSS major version."""

    signal: Signal
    scale: float = 1.0
    offset: float = 0.0


LOCATION_PREFIX = "Vehicle.CurrentLocation."


@dataclass(frozen=True)
class Catalog:
    vss_version: str
    signals: tuple[Signal, ...]
    by_path: dict[str, Signal]
    _by_major: dict[int, dict[str, Resolution]] = field(repr=False)

    def resolver(self, vss_major: int) -> dict[str, Resolution]:
        """Path lookup for vehicles speaking the given VSS major version (4, 5 or 6)."""
        return self._by_major.get(vss_major, self._by_major[PINNED_MAJOR])

    @property
    def numeric(self) -> tuple[Signal, ...]:
        return tuple(s for s in self.signals if s.kind != "string_list")

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Valid (min, max) per signal id, for vectorised range checks; booleans are 0..1."""
        lo = np.array([-np.inf if s.min is None else s.min for s in self.signals], dtype=np.float64)
        hi = np.array([np.inf if s.max is None else s.max for s in self.signals], dtype=np.float64)
        for s in self.signals:
            if s.kind == "boolean":
                lo[s.id], hi[s.id] = 0.0, 1.0
        return lo, hi

    @cached_property
    def boolean_paths(self) -> frozenset[str]:
        """The (VSS 6.0) paths of the boolean signals, whose 0 and 1 read as false and true."""
        return frozenset(s.path for s in self.signals if s.kind == "boolean")

    @cached_property
    def location_ids(self) -> np.ndarray:
        """Ids of the location signals, which are stored only with the owner's consent."""
        return np.array([s.id for s in self.signals if s.path.startswith(LOCATION_PREFIX)], dtype=np.int16)

    def __getitem__(self, path: str) -> Signal:
        return self.by_path[path]

    def named(self, path: str) -> Signal | None:
        """The signal a reader (a rule file, an API call) means by `path`: its VSS 6.0 name, or an
        older name that VSS renamed without changing the unit (`Tire.Temperature`, `OBD.Speed`)."""
        if path in self.by_path:
            return self.by_path[path]
        alias = self.resolver(PINNED_MAJOR).get(path)
        return alias.signal if alias is not None and (alias.scale, alias.offset) == (1.0, 0.0) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and check a catalog file; errors name the offending entry."""
    if path is None:
        text = resources.files("telemetry.catalog").joinpath("signals.toml").read_text("utf-8")
        where = "signals.toml"
    else:
        text, where = path.read_text("utf-8"), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{where}: {exc}") from exc

    signals: list[Signal] = []
    by_path: dict[str, Signal] = {}
    columns: set[str] = set()
    for i, entry in enumerate(data.get("signal", [])):
        try:
            sig = Signal(
                id=i,
                path=entry["path"],
                column=entry["column"],
                datatype=entry["datatype"],
                unit=entry.get("unit"),
                min=entry.get("min"),
                max=entry.get("max"),
                group=entry["group"],
                description=entry["description"],
                overlay=entry.get("overlay", False),
            )
        except KeyError as exc:
            raise CatalogError(f"{where}: signal #{i + 1} lacks {exc.args[0]!r}") from exc
        if sig.datatype not in KINDS:
            raise CatalogError(f"{where}: {sig.path}: unknown datatype {sig.datatype!r}")
        if not sig.path.startswith("Vehicle."):
            raise CatalogError(f"{where}: {sig.path}: a VSS path starts with 'Vehicle.'")
        if not _COLUMN.match(sig.column) or sig.column in columns or sig.column in {"vehicle_id", "ts"}:
            raise CatalogError(f"{where}: {sig.path}: column {sig.column!r} is invalid or used twice")
        if sig.path in by_path:
            raise CatalogError(f"{where}: {sig.path} is listed twice")
        if sig.min is not None and sig.max is not None and sig.min > sig.max:
            raise CatalogError(f"{where}: {sig.path}: min {sig.min} > max {sig.max}")
        signals.append(sig)
        by_path[sig.path] = sig
        columns.add(sig.column)

    by_major = {major: {p: Resolution(s) for p, s in by_path.items()} for major in (4, 5, 6)}
    for entry in data.get("alias", []):
        target = by_path.get(entry.get("target", ""))
        if target is None:
            raise CatalogError(f"{where}: alias {entry.get('path')!r} targets unknown {entry.get('target')!r}")
        res = Resolution(target, float(entry.get("scale", 1.0)), float(entry.get("offset", 0.0)))
        until = entry.get("until_major", PINNED_MAJOR)
        for major in by_major:
            if major <= until:
                by_major[major][entry["path"]] = res
    return Catalog(str(data["vss_version"]), tuple(signals), by_path, by_major)


@cache
def default_catalog() -> Catalog:
    return load_catalog()
