"""OBD-II through an ELM327 adapter, with python-OBD: serial, Bluetooth RFCOMM (/dev/rfcomm0) or a
Wi-Fi adapter (`socket://192.168.0.10:35000`).

Each mode-01 PID the car supports is polled on its own period; the ones it does not support are
reported once and never asked for. A slow adapter makes the polls late, never piled up: a PID's
next poll is a period after its last answer at the earliest. A PID that stops answering is asked
less and less often (up to once a minute). The car's VIN (mode 09) is checked against the
configuration once per connection: a mismatch stops the agent, since it would report another car.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import obd

from agent.buffer import Sample
from agent.config import Obd, PidPoll
from telemetry import dtc
from telemetry.errors import ConfigError
from telemetry.timeutil import now_ms
from telemetry.vin import is_valid_vin

log = logging.getLogger(__name__)
MIL = "Vehicle.OBD.Status.IsMILOn"
DTC_COUNT = "Vehicle.Diagnostics.DTCCount"
DTC_LIST = "Vehicle.Diagnostics.DTCList"
SILENT_BACKOFF_CAP_S = 60.0
TCP_NOMINAL_BAUDRATE = 38400


@dataclass
class Poll:
    pid: PidPoll
    due: float = 0.0
    period: float = 0.0
    misses: int = 0


@dataclass
class ObdReport:
    """What `telemetry-agent check` shows and the log tells once per connection."""

    protocol: str = ""
    vin: str | None = None
    supported: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def car_vin(connection: Any) -> str | None:
    """The VIN from mode 09 PID 02, read from the raw answer (python-OBD's decoder drops characters
    of some adapters' multi-frame answers): the last 17 characters that form a VIN."""
    response = connection.query(obd.commands.VIN, force=True)
    if response.is_null():
        return None
    text = "".join(chr(b) for m in response.messages for b in m.data if 48 <= b < 91)
    candidate = text[-17:]
    return candidate if is_valid_vin(candidate) else None


class ObdSource:
    """Polls the adapter in a thread of its own and hands samples to `emit`."""

    def __init__(self, config: Obd, vin: str, emit: Callable[[list[Sample]], None]) -> None:
        self.config, self.vin, self.emit = config, vin, emit
        self.report = ObdReport()
        self.failure: ConfigError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="obd", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def connect(self) -> Any | None:
        """A connection to the car through the adapter, or None (adapter absent, ignition off)."""
        baudrate = self.config.baudrate
        if baudrate is None and self.config.port.startswith("socket://"):
            baudrate = TCP_NOMINAL_BAUDRATE  # python-OBD's speed detection fails over TCP; the socket ignores it
        connection = obd.OBD(self.config.port, baudrate=baudrate, fast=False, timeout=self.config.timeout_s)
        if connection.status() != obd.OBDStatus.CAR_CONNECTED:
            connection.close()
            return None
        return connection

    def inspect(self, connection: Any) -> list[Poll]:
        """Check the VIN, sort the PIDs into supported and not; returns the polls to run."""
        self.report = ObdReport(protocol=connection.protocol_name(), vin=car_vin(connection))
        if self.report.vin is None:
            log.warning("the car gave no usable VIN (mode 09); trusting the configured %s", self.vin)
        elif self.report.vin != self.vin:
            raise ConfigError(f"the car answers VIN {self.report.vin}, the configuration says {self.vin}")
        polls = []
        for pid in self.config.pids:
            if connection.supports(obd.commands[pid.name]):
                self.report.supported.append(pid.name)
                polls.append(Poll(pid, period=pid.every_s))
            else:
                self.report.unsupported.append(pid.name)
        log.info(
            "OBD-II: %s; polling %s; not supported by this car: %s",
            self.report.protocol,
            ", ".join(self.report.supported) or "nothing",
            ", ".join(self.report.unsupported) or "none",
        )
        return polls

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            connection = None
            try:
                connection = self.connect()
                if connection is None:
                    log.info("OBD-II: no car on %s yet; trying again in %.0f s", self.config.port, delay)
                else:
                    delay = 1.0
                    self._poll(connection, self.inspect(connection))
            except ConfigError as exc:
                self.failure = exc
                log.error("%s", exc)
                return
            except Exception:  # a broken adapter must not end the agent: it reconnects
                log.exception("OBD-II: adapter error; reconnecting")
            finally:
                if connection is not None:
                    connection.close()
            self._stop.wait(delay)
            delay = min(delay * 2, 60.0)

    def _poll(self, connection: Any, polls: list[Poll]) -> None:
        status = Poll(PidPoll("STATUS", MIL, "", "", self.config.status_every_s), period=self.config.status_every_s)
        codes = Poll(PidPoll("GET_DTC", DTC_LIST, "", "", self.config.dtc_every_s), period=self.config.dtc_every_s)
        everything = [*polls, status, codes]
        while not self._stop.is_set():
            if connection.status() != obd.OBDStatus.CAR_CONNECTED:
                log.warning("OBD-II: connection to the car lost")
                return
            poll = min(everything, key=lambda p: p.due)
            wait = poll.due - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
                continue
            samples = self._query(connection, poll)
            poll.due = time.monotonic() + poll.period  # after the answer: a slow adapter slows, never piles up
            if samples:
                self.emit(samples)

    def _query(self, connection: Any, poll: Poll) -> list[Sample]:
        response = connection.query(obd.commands[poll.pid.name])
        ts = now_ms()
        if response.is_null():
            poll.misses += 1
            poll.period = min(poll.pid.every_s * 2**poll.misses, max(SILENT_BACKOFF_CAP_S, poll.pid.every_s))
            if poll.misses == 3:
                log.warning("OBD-II: %s does not answer; asking less often", poll.pid.name)
            return []
        poll.misses, poll.period = 0, poll.pid.every_s
        value = response.value
        if poll.pid.name == "STATUS":
            return [Sample(ts, MIL, 1.0 if value.MIL else 0.0), Sample(ts, DTC_COUNT, float(value.DTC_count))]
        if poll.pid.name == "GET_DTC":
            found = tuple(sorted({code for code, _ in value if dtc.is_valid(code)}))
            if len(found) < len({code for code, _ in value}):
                log.warning("OBD-II: ignored codes that are not SAE J2012 codes: %s", [c for c, _ in value])
            return [Sample(ts, DTC_LIST, codes=found)]
        return [Sample(ts, poll.pid.path, float(value.to(poll.pid.pint_unit).magnitude))]
