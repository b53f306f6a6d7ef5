"""The shipped production broker (`deploy/mosquitto/`), rendered for test ports and folders and run
by a real Mosquitto: the file users deploy is the file that is tested. TLS with a CA made here."""

from __future__ import annotations

import glob
import os
import pwd
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.broker_accounts import DeviceAccounts, init_device_store
from server.credentials import add_user
from server.localservices import free_port, mosquitto_binary, port_open

DEPLOY = Path(__file__).parents[1] / "deploy" / "mosquitto"


def make_certificates(folder: Path) -> Path:
    """A CA, and a server certificate for 127.0.0.1 signed by it (openssl); returns the CA file."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    return folder / "ca.crt"


def render(config: str, *, root: Path, server_port: int, device_port: int) -> str:
    """production.conf with test ports and folders; each replacement must find its line, so a
    change to the shipped file that this test no longer understands fails here."""
    plugin = glob.glob("/usr/lib/*/mosquitto_dynamic_security.so") or glob.glob(
        "/usr/lib/mosquitto_dynamic_security.so"
    )
    assert plugin, "the dynamic-security plugin is missing (Debian package mosquitto)"
    replacements = {
        "listener 1884 127.0.0.1\n": f"listener {server_port} 127.0.0.1\n",
        "listener 8883\n": f"listener {device_port} 127.0.0.1\n",
        "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so": plugin[0],
        "/etc/mosquitto/": f"{root}/etc/",
        "/var/lib/mosquitto/": f"{root}/var/",
    }
    for shipped, test in replacements.items():
        assert shipped in config, f"production.conf no longer has {shipped!r}"
        config = config.replace(shipped, test)
    return f"user {pwd.getpwuid(os.geteuid()).pw_name}\n{config}"


@dataclass
class ProductionBroker:
    server_port: int
    device_port: int
    ca_file: Path
    server_password: str
    admin_password: str
    proc: subprocess.Popen[bytes]

    @property
    def server_url(self) -> str:
        return f"mqtt://telemetry-server:{self.server_password}@127.0.0.1:{self.server_port}"

    def device_url(self, user: str, password: str) -> str:
        return f"mqtts://{user}:{password}@127.0.0.1:{self.device_port}"

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def accounts(self) -> DeviceAccounts:
        return DeviceAccounts(self.device_url("telemetry-admin", self.admin_password), ca_file=str(self.ca_file))


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[ProductionBroker]:
    (tmp_path / "etc").mkdir()
    (tmp_path / "var").mkdir()
    ca_file = make_certificates(tmp_path / "etc" / "certs")
    (tmp_path / "etc" / "telemetry.acl").write_text((DEPLOY / "telemetry.acl").read_text())
    server_password = add_user(tmp_path / "etc" / "telemetry-server.passwd", "telemetry-server")
    admin_password = init_device_store(tmp_path / "var" / "dynamic-security.json", "telemetry-admin")
    server_port, device_port = free_port(), free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        render(
            (DEPLOY / "production.conf").read_text(), root=tmp_path, server_port=server_port, device_port=device_port
        )
    )
    log = (tmp_path / "mosquitto.log").open("wb")
    proc = subprocess.Popen([mosquitto_binary() or "mosquitto", "-c", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while not (port_open("127.0.0.1", server_port) and port_open("127.0.0.1", device_port)):
        assert proc.poll() is None, (tmp_path / "mosquitto.log").read_text()
        assert time.monotonic() < deadline, "the production broker did not open its listeners"
        time.sleep(0.05)
    yield ProductionBroker(server_port, device_port, ca_file, server_password, admin_password, proc)
    proc.terminate()
    proc.wait(10)
    log.close()
