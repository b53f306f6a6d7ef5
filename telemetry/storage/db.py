"""Connections to PostgreSQL, each pinned to the configured schema."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from telemetry.errors import ConfigError
from telemetry.settings import Settings

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def schema_name(settings: Settings) -> str:
    if not _SCHEMA.match(settings.database_schema):
        raise ConfigError(f"TELEMETRY_DATABASE_SCHEMA {settings.database_schema!r} is not a plain identifier")
    return settings.database_schema


def conninfo(settings: Settings) -> str:
    """The DSN with `search_path` set to the schema (then `public`, where extensions live), and
    PostgreSQL's JIT off: our queries are short, and a planner misled by a set-returning function's
    estimate spent 0.9 s compiling a 0.3 s fleet-health query (bench.fleet_health)."""
    schema = schema_name(settings)
    return psycopg.conninfo.make_conninfo(
        settings.require_database_url(), options=f"-c search_path={schema},public -c jit=off"
    )


Row = dict[str, Any]  # every connection of the application hands rows out as dicts
Conn = psycopg.AsyncConnection[Row]
SyncConn = psycopg.Connection[Row]


async def connect(settings: Settings, *, autocommit: bool = False) -> Conn:
    return await psycopg.AsyncConnection.connect(conninfo(settings), autocommit=autocommit, row_factory=dict_row)


def connect_sync(settings: Settings, *, autocommit: bool = False) -> SyncConn:
    return psycopg.Connection.connect(conninfo(settings), autocommit=autocommit, row_factory=dict_row)


def make_pool(settings: Settings, *, min_size: int = 1, max_size: int = 8) -> AsyncConnectionPool[Conn]:
    """An unopened pool; open it with `await pool.open()` or `async with pool`."""
    return AsyncConnectionPool(
        conninfo(settings),
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row},
        open=False,
    )
