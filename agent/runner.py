"""The agent as one service: sources fill the buffer, the uplink empties it and answers commands.

Sources run in threads (python-OBD and python-can block); what they read is collected in memory
and written to the buffer once per `live_interval_s`, in one transaction (at most that much is
lost to a power cut). SIGTERM and SIGINT stop everything, flushing what was collected first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from typing import Protocol

from agent.buffer import Buffer, Sample
from agent.can_source import CanSource
from agent.config import AgentConfig
from agent.features import Features
from agent.obd_source import ObdSource
from agent.uplink import EXPIRY_CHECK_S, Uplink
from telemetry.errors import ConfigError
from telemetry.mqtt import run_forever
from telemetry.timeutil import now_ms

log = logging.getLogger(__name__)


class Source(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


class Collector:
    """Samples handed over by the source threads, until the next flush."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Sample] = []

    def add(self, samples: list[Sample]) -> None:
        with self._lock:
            self._pending.extend(samples)

    def take(self) -> list[Sample]:
        with self._lock:
            taken, self._pending = self._pending, []
        return taken


class Agent:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.buffer = Buffer(config.buffer_file, config.buffer_max_samples)
        self.features = Features(config.state_file, config.command_key, config.hook)
        self.uplink = Uplink(config, self.buffer, self.features)
        self.collector = Collector()
        self.obd = ObdSource(config.obd, config.vin, self.collector.add) if config.obd else None
        self.sources: list[Source] = [CanSource(c, self.collector.add) for c in config.can]
        if self.obd is not None:
            self.sources.append(self.obd)

    async def run(self) -> None:
        """Until cancelled (SIGTERM/SIGINT through `main`), or a source finds the wrong car."""
        if self.config.command_key is None:
            log.warning("no command_key configured: every command will be refused")
        for source in self.sources:
            source.start()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._flush_forever())
                tasks.create_task(self._expire_forever())
                tasks.create_task(run_forever("agent", self.uplink.client, self.uplink.session))
        finally:
            for source in self.sources:
                source.stop()
            self.flush()
            log.info("stopped; %d samples wait in the buffer", self.buffer.waiting())
            self.buffer.close()

    def flush(self) -> int:
        taken = self.collector.take()
        dropped = self.buffer.append(taken)
        if dropped:
            log.warning("buffer full: dropped the %d oldest samples", dropped)
        return len(taken)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.upload.live_interval_s)
            if self.obd is not None and self.obd.failure is not None:
                raise self.obd.failure
            if await asyncio.to_thread(self.flush):
                self.uplink.wake.set()

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.to_thread(self.features.expire, now_ms())
            await asyncio.sleep(EXPIRY_CHECK_S)


async def serve(config: AgentConfig) -> None:
    """Run the agent; SIGTERM or SIGINT end it cleanly."""
    agent = Agent(config)
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        try:
            await agent.run()
        except ExceptionGroup as group:  # a task found the wrong car: say it in one line
            failed, _ = group.split(ConfigError)
            if failed is None:
                raise
            raise failed.exceptions[0] from None
