"""A CAN bus read through a DBC file: python-can receives the frames (SocketCAN in a car), cantools
decodes them, a mapping names which DBC signals are which VSS paths.

A bus carries each frame tens of times a second; a mapped signal is kept at most once per its
`every_s`. Frames the DBC does not know, frames of a known id with the wrong length or contents
that do not decode are counted (and shown in the log once a minute), never fatal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import can
import cantools
import cantools.database

from agent.buffer import Sample
from agent.config import Can, CanSignal
from telemetry.errors import ConfigError

log = logging.getLogger(__name__)
PERIOD_TOLERANCE = 0.9  # a frame sent every `every_s` arrives a little early at times: keep it all the same
PLAUSIBLE_CLOCK_S = 86400.0  # a frame timestamp further than this from the wall clock is not epoch time
REPORT_EVERY_S = 60.0


class CanSource:
    def __init__(self, config: Can, emit: Callable[[list[Sample]], None]) -> None:
        self.config, self.emit = config, emit
        database = cantools.database.load_file(str(config.dbc), strict=False)
        if not isinstance(database, cantools.database.can.Database):
            raise ConfigError(f"{config.dbc.name} is not a CAN database (DBC)")
        self.database = database
        self.mapped: dict[int, list[CanSignal]] = {}
        for entry in config.signals:
            try:
                message = self.database.get_message_by_name(entry.message)
            except KeyError:
                raise ConfigError(f"{config.dbc.name} has no message {entry.message!r}") from None
            if entry.signal not in {s.name for s in message.signals}:
                raise ConfigError(f"{config.dbc.name}: message {entry.message} has no signal {entry.signal!r}")
            self.mapped.setdefault(message.frame_id, []).append(entry)
        self.counts: Counter[str] = Counter()  # frames, unknown_id, bad_frame, kept
        self._last_kept: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"can-{config.channel}", daemon=True)
        self._bus: can.BusABC | None = None

    def open(self) -> None:
        """Open the bus now, so that a missing interface is reported before the agent runs."""
        kwargs: dict[str, Any] = {} if self.config.bitrate is None else {"bitrate": self.config.bitrate}
        try:
            self._bus = can.Bus(interface=self.config.interface, channel=self.config.channel, **kwargs)
        except (can.CanError, OSError, ValueError, ImportError) as exc:
            raise ConfigError(f"CAN {self.config.interface}:{self.config.channel} cannot be opened: {exc}") from None

    def start(self) -> None:
        if self._bus is None:
            self.open()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self._bus is not None:
            self._bus.shutdown()

    def _run(self) -> None:
        assert self._bus is not None
        reported = time.monotonic()
        while not self._stop.is_set():
            try:
                frame = self._bus.recv(timeout=0.5)
            except can.CanError as exc:
                log.warning("CAN %s: %s", self.config.channel, exc)
                self._stop.wait(1.0)
                continue
            if frame is not None:
                samples = self.decode(frame)
                if samples:
                    self.emit(samples)
            if time.monotonic() - reported >= REPORT_EVERY_S:
                reported = time.monotonic()
                log.info("CAN %s: %s", self.config.channel, dict(self.counts))

    def decode(self, frame: can.Message) -> list[Sample]:
        """The samples a frame gives now (none when its signals were kept less than `every_s` ago)."""
        self.counts["frames"] += 1
        if frame.is_error_frame or frame.is_remote_frame:
            return []
        entries = self.mapped.get(frame.arbitration_id)
        if entries is None:
            try:
                self.database.get_message_by_frame_id(frame.arbitration_id)
            except KeyError:
                self.counts["unknown_id"] += 1
            return []
        try:
            values = self.database.decode_message(
                frame.arbitration_id, bytes(frame.data), decode_choices=False, allow_truncated=False
            )
        except Exception:  # cantools raises several types for short or malformed frames
            self.counts["bad_frame"] += 1
            return []
        if not isinstance(values, dict):
            return []
        wall = time.time()
        stamp = frame.timestamp if abs(frame.timestamp - wall) < PLAUSIBLE_CLOCK_S else wall
        samples = []
        for entry in entries:
            raw = values.get(entry.signal)
            since = stamp - self._last_kept.get(entry.path, -1e18)
            if not isinstance(raw, int | float) or since < entry.every_s * PERIOD_TOLERANCE:
                continue
            self._last_kept[entry.path] = stamp
            samples.append(Sample(int(stamp * 1000), entry.path, float(raw) * entry.factor + entry.offset))
        self.counts["kept"] += len(samples)
        return samples
