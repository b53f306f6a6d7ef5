"""The vehicle agent's test rig: a real ELM327 emulator on a pseudo-tty, the agent as a process (or
in-process for the virtual CAN bus, which lives inside one process), its configuration file, and a
network cable between the agent and the broker that a test can cut and mend."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from server.localservices import free_port
from telemetry.settings import Settings
from tests.fix_server import wait_for

EMULATOR_VIN = "WP0ZZZ99ZTS390000"  # the first VIN ELM327-emulator's `car` scenario answers


@contextmanager
def elm327(folder: Path, *, tcp: bool = False) -> Iterator[str]:
    """ELM327-emulator's `car` scenario on a pseudo-tty (yields the tty's path) or, like a Wi-Fi
    adapter, on a TCP port (yields `socket://127.0.0.1:port`)."""
    out = folder / "elm.out"
    out.unlink(missing_ok=True)
    port = free_port()
    network = ["-n", str(port)] if tcp else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "elm", "-s", "car", *network, "-b", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        cwd=folder,  # the emulator writes elm.log where it runs
    )  # fmt: skip
    try:
        text = lambda: out.read_text() if out.exists() else ""  # noqa: E731
        if tcp:
            wait_for(lambda: "STARTED" in text())
            yield f"socket://127.0.0.1:{port}"
        else:
            yield wait_for(lambda: (line := text().split("\n", 1)[0]).startswith("/dev/") and line)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal a process group and wait for it; returns the exit status."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def write_config(folder: Path, settings: Settings, vin: str, *, broker_url: str | None = None, extra: str = "") -> Path:
    """An agent configuration for `vin`, its state in `folder/state`, on the test's topic prefix."""
    path = folder / "agent.toml"
    path.write_text(
        f'vin = "{vin}"\nstate_dir = "state"\nsoftware_version = "3.1.0"\n{extra}\n'
        f'[broker]\nurl = "{broker_url or settings.mqtt_url}"\ntopic_prefix = "{settings.mqtt_topic_prefix}"\n'
    )
    return path


def start_agent(config: Path, log: Path, command: str = "run") -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "agent.cli", command, "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


@contextmanager
def agent_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_agent(config, log)
    try:
        yield proc
    finally:
        assert stop(proc) == 0, log.read_text()[-3000:]


class Cable(threading.Thread):
    """A TCP relay from a local port to the broker: `cut()` drops every connection and refuses new
    ones (the car drives out of coverage), `mend()` lets them through again."""

    def __init__(self, broker_url: str) -> None:
        super().__init__(daemon=True)
        parts = urlsplit(broker_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 1883)
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._listen())
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> None:
        super().start()
        assert self._ready.wait(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def _call(self, coro_fn: object) -> None:
        asyncio.run_coroutine_threadsafe(coro_fn, self.loop).result(10)  # type: ignore[arg-type]

    def cut(self) -> None:
        async def cut() -> None:
            assert self._server is not None
            self._server.close()
            for w in self._writers:
                w.transport.abort()
            self._writers.clear()

        self._call(cut())

    def mend(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(10)
        self.loop.close()


@pytest.fixture
def cable(mqtt_url: str) -> Iterator[Cable]:
    relay = Cable(mqtt_url)
    relay.start()
    yield relay
    relay.close()
