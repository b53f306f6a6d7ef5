"""Real PostgreSQL and Mosquitto, given by environment variables (scripts/services.sh starts them).

Every test gets its own schema and its own topic prefix, so tests never see each other's data.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql

from api.app import create_app
from crm import records
from server.localservices import free_port
from telemetry.settings import Settings
from telemetry.storage import apikeys
from telemetry.storage.db import Conn, connect_sync
from telemetry.storage.migrate import upgrade


def _env(name: str) -> str:
    value = os.environ.get(f"TELEMETRY_TEST_{name}") or os.environ.get(f"TELEMETRY_{name}")
    if not value:
        pytest.fail(f'TELEMETRY_{name} is not set: run `eval "$(bash scripts/services.sh)"` first')
    return value


@pytest.fixture(scope="session")
def database_url() -> str:
    return _env("DATABASE_URL")


@pytest.fixture(scope="session")
def mqtt_url() -> str:
    return _env("MQTT_URL")


def expected_layout() -> str:
    """The samples layout the database under test gives: native, unless the TimescaleDB leg runs."""
    return os.environ.get("TELEMETRY_TEST_SAMPLES_LAYOUT", "native")


def make_settings(database_url: str, mqtt_url: str, **overrides: object) -> Settings:
    tag = secrets.token_hex(4)
    values: dict[str, object] = {
        "database_url": database_url,
        "database_schema": f"t_{tag}",
        "mqtt_url": mqtt_url,
        "mqtt_topic_prefix": f"t{tag}/",
        "mqtt_client_id": f"t{tag}",
        "ingest_batch_max_wait_ms": 50,
        "hourly_rollup_interval_s": 1,
        "api_port": free_port(),
        "command_secret": f"command-secret-{tag}",
        "webhook_allow_private": True,  # the tests' CRM receivers listen on loopback
        **overrides,
    }
    return Settings(**values)


def drop_schema(settings: Settings) -> None:
    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(settings.database_schema)))


@pytest.fixture
def settings(database_url: str, mqtt_url: str) -> Iterator[Settings]:
    """Settings with a fresh, migrated schema of their own."""
    s = make_settings(database_url, mqtt_url)
    asyncio.run(upgrade(s))
    yield s
    drop_schema(s)


async def add_vehicle(conn: Conn, vin: str, powertrain: str = "combustion") -> int:
    """Register a test vehicle through the storage layer; returns its id (committed)."""
    row = await records.create_vehicle(
        conn,
        vin=vin,
        make="Aurora",
        model="Compact 1.5",
        model_year=2024,
        powertrain=powertrain,
        owner_customer_id=None,
        dealer_id=None,
        vss_version="6.0",
    )
    await conn.commit()
    return row.id


def make_key(settings: Settings, role: str = "admin", dealer_id: int | None = None) -> str:
    """A new API key in the settings' (migrated) schema."""
    with connect_sync(settings) as conn:
        key, _ = apikeys.create_sync(conn, role=role, dealer_id=dealer_id, name="test")
    return key


@asynccontextmanager
async def in_process(app: FastAPI, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of this app, run in this process with its lifespan."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as client:
            yield client


@asynccontextmanager
async def api_client(settings: Settings, key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this process (lifespan included), for tests that mix API calls and workers;
    it sends `key`, by default a new admin key."""
    async with in_process(create_app(settings), {"Authorization": f"Bearer {key or make_key(settings)}"}) as client:
        yield client
