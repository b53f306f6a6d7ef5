"""The agent's one TOML file: which car, which broker, which sources, how much to buffer.

Every value has a documented range (docs/agent.md); a file that breaks one is refused with one line
naming the key, before anything connects.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from telemetry.bounds import SOFTWARE_VERSION
from telemetry.catalog import Catalog, default_catalog
from telemetry.errors import ConfigError
from telemetry.mqtt import broker_address
from telemetry.vin import is_valid_vin

OPENDBC_PREFIX = "opendbc:"


@dataclass(frozen=True)
class Broker:
    url: str
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    topic_prefix: str = ""


@dataclass(frozen=True)
class Upload:
    max_messages_per_s: float = 10.0  # under the server's per-vehicle limit (20/s by default)
    live_interval_s: float = 1.0  # how often live samples leave the buffer
    backlog_samples: int = 2000  # more than this waiting: Arrow batches instead of JSON
    arrow_rows: int = 8000  # rows per Arrow message (~170 KB, under the server's 256 KiB)
    json_rows: int = 1000  # values per JSON message (~50 KB)


@dataclass(frozen=True)
class PidPoll:
    name: str  # python-OBD's command name, e.g. SPEED
    path: str  # the VSS path it is stored under
    unit: str  # the catalog's unit for that path
    pint_unit: str  # the unit python-OBD's answer is converted to
    every_s: float


@dataclass(frozen=True)
class Obd:
    port: str  # /dev/ttyUSB0, /dev/rfcomm0, or socket://host:port for a Wi-Fi adapter
    baudrate: int | None = None
    timeout_s: float = 2.0
    pids: tuple[PidPoll, ...] = ()
    dtc_every_s: float = 30.0
    status_every_s: float = 10.0


@dataclass(frozen=True)
class CanSignal:
    message: str
    signal: str
    path: str
    factor: float = 1.0
    offset: float = 0.0
    every_s: float = 1.0


@dataclass(frozen=True)
class Can:
    interface: str  # python-can interface: socketcan in a car, virtual in tests
    channel: str
    dbc: Path
    signals: tuple[CanSignal, ...]
    bitrate: int | None = None


@dataclass(frozen=True)
class AgentConfig:
    vin: str
    broker: Broker
    state_dir: Path
    command_key: bytes | None = None
    software_version: str | None = None
    buffer_max_samples: int = 5_000_000
    hook: Path | None = None  # run on every applied command: hook FEATURE enable|disable|expire EXPIRES_MS
    upload: Upload = field(default_factory=Upload)
    obd: Obd | None = None
    can: tuple[Can, ...] = ()

    @property
    def buffer_file(self) -> Path:
        return self.state_dir / "buffer.sqlite"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "features.json"


class _Table:
    """Typed reads of one TOML table; every error names the key and the file."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data, self.where = data, where

    def _get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.data.get(key, default)
        if value is not default and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            raise ConfigError(f"{self.where}: '{key}' must be {_kind_name(kind)}, got {value!r}")
        return value

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._get(key, str, default)
        if required and value is None:
            raise ConfigError(f"{self.where}: '{key}' is missing")
        return value  # type: ignore[no-any-return]

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = float(self._get(key, (int, float), default))
        if not low <= value <= high:
            raise ConfigError(f"{self.where}: '{key}' must be between {low:g} and {high:g}, got {value:g}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._get(key, int, default)
        if not low <= value <= high:
            raise ConfigError(f"{self.where}: '{key}' must be between {low} and {high}, got {value}")
        return int(value)

    def path(self, key: str, base: Path) -> Path | None:
        value = self.text(key)
        if value is None:
            return None
        found = (base / value).resolve()
        if not found.exists():
            raise ConfigError(f"{self.where}: '{key}' names {found}, which does not exist")
        return found

    def table(self, key: str) -> _Table | None:
        value = self._get(key, dict, None)
        return None if value is None else _Table(value, f"{self.where} [{key}]")

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.data) - allowed)
        if extra:
            raise ConfigError(f"{self.where}: unknown key(s) {', '.join(extra)}")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", float: "a number", dict: "a table", bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def load_config(path: Path, catalog: Catalog | None = None) -> AgentConfig:
    """Read and check the agent's configuration file."""
    catalog = catalog or default_catalog()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    top = _Table(data, str(path))
    top.unknown({"vin", "state_dir", "command_key", "software_version", "buffer_max_samples", "hook",
                 "broker", "upload", "obd", "can"})  # fmt: skip
    base = path.parent
    vin = top.text("vin", required=True) or ""
    if not is_valid_vin(vin):
        raise ConfigError(f"{path}: 'vin' {vin!r} is not 17 characters of the VIN alphabet")
    software = top.text("software_version")
    if software is not None and not SOFTWARE_VERSION.match(software):
        raise ConfigError(f"{path}: 'software_version' must be dotted numbers such as '2.4.1', got {software!r}")
    key_hex = top.text("command_key")
    try:
        command_key = bytes.fromhex(key_hex) if key_hex is not None else None
    except ValueError:
        raise ConfigError(f"{path}: 'command_key' must be hexadecimal (`telemetry vehicles command-key VIN`)") from None
    if command_key is not None and len(command_key) != 32:
        raise ConfigError(f"{path}: 'command_key' must be 64 hex digits, got {len(key_hex or '')}")
    return AgentConfig(
        vin=vin,
        broker=_broker(top.table("broker"), path, base),
        state_dir=(base / (top.text("state_dir") or "state")).resolve(),
        command_key=command_key,
        software_version=software,
        buffer_max_samples=top.integer("buffer_max_samples", 5_000_000, 10_000, 500_000_000),
        hook=top.path("hook", base),
        upload=_upload(top.table("upload")),
        obd=_obd(top.table("obd"), catalog),
        can=tuple(
            _can(_Table(t, f"{path} [[can]] #{i + 1}"), base, catalog) for i, t in enumerate(_tables(top, "can"))
        ),
    )


def _tables(top: _Table, key: str) -> list[dict[str, Any]]:
    value = top.data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(f"{top.where}: '{key}' must be a list of tables ([[{key}]])")
    return value


def _broker(t: _Table | None, path: Path, base: Path) -> Broker:
    if t is None:
        raise ConfigError(f"{path}: the [broker] table is missing")
    t.unknown({"url", "ca_file", "client_cert", "client_key", "topic_prefix"})
    url = t.text("url", required=True) or ""
    try:
        broker_address(url)
    except ConfigError as exc:
        raise ConfigError(f"{t.where}: {exc}") from None
    cert, key = t.path("client_cert", base), t.path("client_key", base)
    if (cert is None) != (key is None):
        raise ConfigError(f"{t.where}: give both 'client_cert' and 'client_key', or neither")
    return Broker(url, t.path("ca_file", base), cert, key, t.text("topic_prefix", "") or "")


def _upload(t: _Table | None) -> Upload:
    if t is None:
        return Upload()
    t.unknown({"max_messages_per_s", "live_interval_s", "backlog_samples", "arrow_rows", "json_rows"})
    return Upload(
        max_messages_per_s=t.number("max_messages_per_s", 10.0, 0.1, 1000.0),
        live_interval_s=t.number("live_interval_s", 1.0, 0.1, 3600.0),
        backlog_samples=t.integer("backlog_samples", 2000, 1, 10_000_000),
        arrow_rows=t.integer("arrow_rows", 8000, 1, 10_000),
        json_rows=t.integer("json_rows", 1000, 1, 2000),
    )


def default_pids(catalog: Catalog) -> tuple[PidPoll, ...]:
    """The mode-01 PIDs the agent polls by default (agent/obd_pids.toml), each checked against the
    catalog: its path must exist and the unit it is converted to must be the catalog's."""
    text = resources.files("agent").joinpath("obd_pids.toml").read_text("utf-8")
    polls = []
    for name, entry in tomllib.loads(text)["pid"].items():
        signal = catalog.named(entry["path"])
        if signal is None or signal.path != entry["path"] or (signal.unit or "") != entry["unit"]:
            raise ConfigError(f"obd_pids.toml: {name} names {entry['path']} in {entry['unit']}, not in the catalog")
        polls.append(PidPoll(name, entry["path"], entry["unit"], entry["pint_unit"], float(entry["every_s"])))
    return tuple(polls)


def _obd(t: _Table | None, catalog: Catalog) -> Obd | None:
    if t is None:
        return None
    t.unknown({"port", "baudrate", "timeout_s", "every_s", "dtc_every_s", "status_every_s"})
    polls = {p.name: p for p in default_pids(catalog)}
    rates = t.table("every_s")
    if rates is not None:
        for name in rates.data:
            if name not in polls:
                raise ConfigError(f"{rates.where}: unknown PID {name!r}; known: {', '.join(sorted(polls))}")
            poll = polls[name]
            polls[name] = PidPoll(poll.name, poll.path, poll.unit, poll.pint_unit, rates.number(name, 1.0, 0.1, 86400))
    baudrate = t.data.get("baudrate")
    return Obd(
        port=t.text("port", required=True) or "",
        baudrate=None if baudrate is None else t.integer("baudrate", 38400, 1200, 4_000_000),
        timeout_s=t.number("timeout_s", 2.0, 0.1, 60.0),
        pids=tuple(polls.values()),
        dtc_every_s=t.number("dtc_every_s", 30.0, 1.0, 86400.0),
        status_every_s=t.number("status_every_s", 10.0, 1.0, 86400.0),
    )


def resolve_dbc(name: str, base: Path) -> Path:
    """A DBC file by path, or `opendbc:<name>` for one of the opendbc package's files."""
    if name.startswith(OPENDBC_PREFIX):
        try:
            package = resources.files("opendbc")
        except ModuleNotFoundError:
            raise ConfigError(f"'dbc' {name!r} needs the opendbc package (pip install opendbc)") from None
        found = Path(str(package.joinpath("dbc", name[len(OPENDBC_PREFIX) :] + ".dbc")))
    else:
        found = (base / name).resolve()
    if not found.is_file():
        raise ConfigError(f"'dbc' {name!r}: no such file ({found})")
    return found


def _can(t: _Table, base: Path, catalog: Catalog) -> Can:
    t.unknown({"interface", "channel", "dbc", "bitrate", "signal"})
    signals = []
    for i, entry in enumerate(_tables(t, "signal")):
        s = _Table(entry, f"{t.where} signal #{i + 1}")
        s.unknown({"message", "signal", "path", "factor", "offset", "every_s"})
        target = s.text("path", required=True) or ""
        known = catalog.named(target)
        if known is None or known.kind == "string_list":
            raise ConfigError(f"{s.where}: 'path' {target!r} is not a numeric or boolean signal of the catalog")
        signals.append(
            CanSignal(
                message=s.text("message", required=True) or "",
                signal=s.text("signal", required=True) or "",
                path=known.path,
                factor=s.number("factor", 1.0, -1e9, 1e9),
                offset=s.number("offset", 0.0, -1e9, 1e9),
                every_s=s.number("every_s", 1.0, 0.01, 86400.0),
            )
        )
    if not signals:
        raise ConfigError(f"{t.where}: map at least one DBC signal ([[can.signal]])")
    bitrate = t.data.get("bitrate")
    try:
        dbc = resolve_dbc(t.text("dbc", required=True) or "", base)
    except ConfigError as exc:
        raise ConfigError(f"{t.where}: {exc}") from None
    return Can(
        interface=t.text("interface", "socketcan") or "socketcan",
        channel=t.text("channel", required=True) or "",
        dbc=dbc,
        signals=tuple(signals),
        bitrate=None if bitrate is None else t.integer("bitrate", 500_000, 10_000, 8_000_000),
    )
