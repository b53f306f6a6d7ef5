"""The shipped production broker, attacked by a vehicle account: it cannot join the ingest workers'
shared subscription, take a server client id, read or write another vehicle's topics, or log in on
the server listener; nothing other vehicles publish meanwhile is lost. Accounts are only for
registered VINs, revocation disconnects at once, rotation replaces the password."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest
from typer.testing import CliRunner

from server.cli import app
from server.credentials import add_user
from telemetry.errors import ConfigError, ConflictError
from telemetry.mqtt import make_client
from telemetry.settings import Settings
from telemetry.storage.db import connect
from telemetry.topics import ingest_client_id, ingest_subscriptions
from tests.fix_broker import ProductionBroker
from tests.fix_services import add_vehicle

ATTACKER = "1HGCM82633A004352"
VICTIM = "WVWZZZ1JZXW000001"


@asynccontextmanager
async def vehicle(
    broker: ProductionBroker, vin: str, password: str, identifier: str | None = None
) -> AsyncIterator[aiomqtt.Client]:
    client = make_client(broker.device_url(vin, password), identifier or vin, persistent=False, tls=broker.tls())
    async with client:
        yield client


async def drain(client: aiomqtt.Client, seconds: float) -> list[str]:
    received: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            async for message in client.messages:
                received.append(f"{message.topic.value}={message.payload!r}")
    except TimeoutError:
        pass
    return received


async def session_ends(client: aiomqtt.Client, seconds: float = 5.0) -> bool:
    """True when the broker closes the client's connection within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            async for _ in client.messages:
                pass
    except aiomqtt.MqttError:
        return True
    except TimeoutError:
        return False
    return True


def refused(reason_codes: object) -> bool:
    return all(code.is_failure for code in reason_codes)  # type: ignore[attr-defined]


def test_a_vehicle_cannot_join_the_ingest_group_or_read_others_and_nothing_is_lost(
    production_broker: ProductionBroker,
) -> None:
    broker = production_broker

    async def scenario() -> None:
        attacker_pw = await broker.accounts.create(ATTACKER)
        victim_pw = await broker.accounts.create(VICTIM)
        ingest = make_client(broker.server_url, ingest_client_id("telemetry", 0), persistent=False)
        async with ingest, vehicle(broker, ATTACKER, attacker_pw) as attacker:
            for subscription in ingest_subscriptions("", shared=True):
                await ingest.subscribe(subscription, qos=1)
            for stolen in [
                *ingest_subscriptions("", shared=True),
                "vehicles/+/telemetry",
                "#",
                f"vehicles/{VICTIM}/commands",
                f"$share/x/vehicles/{ATTACKER}/commands",
            ]:
                assert refused(await attacker.subscribe(stolen, qos=1)), stolen
            assert not refused(await attacker.subscribe(f"vehicles/{ATTACKER}/commands", qos=1))
            async with vehicle(broker, VICTIM, victim_pw) as victim:
                for i in range(10):
                    await victim.publish(f"vehicles/{VICTIM}/telemetry", f"v{i}", qos=1)
                await attacker.publish(f"vehicles/{VICTIM}/telemetry", "forged", qos=1)
                await attacker.publish(f"vehicles/{ATTACKER}/telemetry", "own", qos=1)
            await ingest.publish(f"vehicles/{VICTIM}/commands", "for the victim", qos=1)
            await ingest.publish(f"vehicles/{ATTACKER}/commands", "for the attacker", qos=1)
            server_got, attacker_got = await asyncio.gather(drain(ingest, 1.5), drain(attacker, 1.5))
        assert sorted(server_got) == sorted(
            [f"vehicles/{VICTIM}/telemetry=b'v{i}'" for i in range(10)] + [f"vehicles/{ATTACKER}/telemetry=b'own'"]
        )
        assert attacker_got == [f"vehicles/{ATTACKER}/commands=b'for the attacker'"]

    asyncio.run(scenario())


def test_a_vehicle_cannot_take_a_server_client_id(production_broker: ProductionBroker) -> None:
    broker = production_broker

    async def scenario() -> list[str]:
        attacker_pw = await broker.accounts.create(ATTACKER)
        ingest = make_client(broker.server_url, ingest_client_id("telemetry", 0), persistent=False)
        async with ingest:
            await ingest.subscribe(f"vehicles/{ATTACKER}/telemetry", qos=1)
            async with vehicle(broker, ATTACKER, attacker_pw, identifier=ingest_client_id("telemetry", 0)) as attacker:
                for i in range(5):
                    await attacker.publish(f"vehicles/{ATTACKER}/telemetry", f"m{i}", qos=1)
                    await asyncio.sleep(0.05)
            return await drain(ingest, 1.0)  # still connected: the broker named the vehicle by its VIN

    assert len(asyncio.run(scenario())) == 5


def test_vehicle_accounts_cannot_log_in_on_the_server_listener_nor_in_plain_text(
    production_broker: ProductionBroker,
) -> None:
    broker = production_broker

    async def attempts() -> list[str]:
        password = await broker.accounts.create(ATTACKER)
        failures = []
        for url, tls in [
            (f"mqtt://{ATTACKER}:{password}@127.0.0.1:{broker.server_port}", None),  # server listener
            (f"mqtt://{ATTACKER}:{password}@127.0.0.1:{broker.device_port}", None),  # device listener without TLS
            (broker.device_url(ATTACKER, "guess"), broker.tls()),  # a wrong password
        ]:
            try:
                async with make_client(url, "probe", persistent=False, tls=tls):
                    failures.append(f"{url} accepted")
            except aiomqtt.MqttError:
                pass
        async with vehicle(broker, ATTACKER, password):  # the right way works
            pass
        return failures

    assert asyncio.run(attempts()) == []


def test_revoking_disconnects_at_once_and_rotation_replaces_the_password(production_broker: ProductionBroker) -> None:
    broker = production_broker

    async def scenario() -> None:
        first = await broker.accounts.create(ATTACKER)
        with pytest.raises(ConflictError, match="--rotate"):
            await broker.accounts.create(ATTACKER)
        async with vehicle(broker, ATTACKER, first) as leaked:
            second = await broker.accounts.create(ATTACKER, rotate=True)
            assert await session_ends(leaked)  # the session opened with the old password ends
        with pytest.raises(aiomqtt.MqttError):
            async with vehicle(broker, ATTACKER, first):
                pass
        async with vehicle(broker, ATTACKER, second) as connected:
            await connected.subscribe(f"vehicles/{ATTACKER}/commands", qos=1)
            await broker.accounts.revoke(ATTACKER)
            assert await session_ends(connected)
        with pytest.raises(aiomqtt.MqttError):
            async with vehicle(broker, ATTACKER, second):
                pass

    asyncio.run(scenario())


def test_credentials_only_for_registered_vehicles(
    settings: Settings, production_broker: ProductionBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = production_broker
    for name, value in {
        "TELEMETRY_DATABASE_URL": settings.require_database_url(),
        "TELEMETRY_DATABASE_SCHEMA": settings.database_schema,
        "TELEMETRY_BROKER_ADMIN_URL": broker.device_url("telemetry-admin", broker.admin_password),
        "TELEMETRY_BROKER_CA_FILE": str(broker.ca_file),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    unknown = runner.invoke(app, ["vehicles", "credentials", ATTACKER])
    assert "is not registered" in str(unknown.exception)

    async def register() -> None:
        async with await connect(settings) as conn:
            await add_vehicle(conn, ATTACKER)

    asyncio.run(register())
    made = runner.invoke(app, ["vehicles", "credentials", ATTACKER])
    assert made.exit_code == 0, made.output
    password = made.output.split("password ")[1].split()[0]
    revoked = runner.invoke(app, ["vehicles", "revoke", ATTACKER])
    assert revoked.exit_code == 0, revoked.output

    async def log_in() -> None:
        async with vehicle(broker, ATTACKER, password):
            pass

    with pytest.raises(aiomqtt.MqttError):
        asyncio.run(log_in())


def test_password_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    passwords = tmp_path / "passwd"
    add_user(passwords, "telemetry-server")
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600


def test_credentials_need_a_vin(production_broker: ProductionBroker) -> None:
    with pytest.raises(ConfigError, match="is not a VIN"):
        asyncio.run(production_broker.accounts.create("not-a-vin"))
