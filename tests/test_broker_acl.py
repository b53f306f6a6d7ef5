"""The shipped Mosquitto ACL: a vehicle publishes only under its own VIN; strangers cannot connect."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from telemetry.credentials import add_user, add_vehicle
from telemetry.errors import ConfigError
from telemetry.localservices import free_port, mosquitto_binary, port_open
from telemetry.mqtt import make_client, publisher

ACL = Path(__file__).parents[1] / "deploy" / "mosquitto" / "telemetry.acl"
VEHICLE_A = "1HGCM82633A004352"
VEHICLE_B = "WVWZZZ1JZXW000001"


@dataclass
class SecuredBroker:
    port: int
    passwords: Path
    server_password: str
    proc: subprocess.Popen[bytes]

    def url(self, user: str, password: str) -> str:
        return f"mqtt://{user}:{password}@127.0.0.1:{self.port}"

    def provision(self, vin: str) -> str:
        """What an operator does: add the account, then reload the broker (SIGHUP)."""
        password = add_vehicle(self.passwords, vin)
        self.proc.send_signal(signal.SIGHUP)

        async def accepted() -> bool:
            try:
                async with publisher(self.url(vin, password), f"{vin}-probe"):
                    return True
            except aiomqtt.MqttError:
                return False

        deadline = time.monotonic() + 10
        while not asyncio.run(accepted()):
            assert time.monotonic() < deadline, "the broker did not load the new account"
            time.sleep(0.1)
        return password


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[SecuredBroker]:
    passwords = tmp_path / "passwd"
    shutil.copy(ACL, tmp_path / "telemetry.acl")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    user = pwd.getpwuid(os.geteuid()).pw_name
    config.write_text(
        f"listener {port} 127.0.0.1\nuser {user}\nallow_anonymous false\n"
        f"password_file {passwords}\nacl_file {tmp_path / 'telemetry.acl'}\n"
    )
    server_password = add_user(passwords, "telemetry-server")
    proc = subprocess.Popen([mosquitto_binary() or "mosquitto", "-c", str(config)])
    deadline = time.monotonic() + 10
    while not port_open("127.0.0.1", port):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield SecuredBroker(port, passwords, server_password, proc)
    proc.terminate()
    proc.wait(10)


def test_a_vehicle_publishes_only_under_its_own_vin(secured_broker: SecuredBroker) -> None:
    vehicle_password = secured_broker.provision(VEHICLE_A)

    async def scenario() -> list[str]:
        server_url = secured_broker.url("telemetry-server", secured_broker.server_password)
        vehicle_url = secured_broker.url(VEHICLE_A, vehicle_password)
        received: list[str] = []
        async with make_client(server_url, "server-acl", persistent=False) as server:
            await server.subscribe("vehicles/#", qos=1)
            async with publisher(vehicle_url, VEHICLE_A) as vehicle:
                await vehicle.publish(f"vehicles/{VEHICLE_A}/telemetry", b"own", qos=1)
                await vehicle.publish(f"vehicles/{VEHICLE_B}/telemetry", b"forged", qos=1)
                await vehicle.publish(f"vehicles/{VEHICLE_A}/telemetry", b"own again", qos=1)
            try:
                async with asyncio.timeout(1.5):
                    async for message in server.messages:
                        received.append(f"{message.topic.value}={message.payload.decode()}")
            except TimeoutError:
                pass
        return received

    assert asyncio.run(scenario()) == [
        f"vehicles/{VEHICLE_A}/telemetry=own",
        f"vehicles/{VEHICLE_A}/telemetry=own again",
    ]


def test_a_wrong_password_cannot_connect(secured_broker: SecuredBroker) -> None:
    secured_broker.provision(VEHICLE_A)

    async def connect() -> None:
        async with publisher(secured_broker.url(VEHICLE_A, "guess"), VEHICLE_A):
            pass

    with pytest.raises(aiomqtt.MqttError):
        asyncio.run(connect())


def test_credentials_need_a_vin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a VIN"):
        add_vehicle(tmp_path / "passwd", "not-a-vin")
