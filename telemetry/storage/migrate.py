"""Versioned migrations: applied in order, each once, each in its own transaction.

A migration is an SQL file or a Python coroutine; `schema_migrations` records what was applied.
An advisory lock lets several processes start at once without applying anything twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources

from psycopg import sql

from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.storage import hourly, layout
from telemetry.storage.db import Conn, connect, schema_name

log = logging.getLogger(__name__)
_LOCK_KEY = 0x7E1E_0001


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Conn, Settings], Awaitable[None]]


def _sql_file(filename: str) -> Callable[[Conn, Settings], Awaitable[None]]:
    async def apply(conn: Conn, _settings: Settings) -> None:
        text = resources.files("telemetry.storage.migrations").joinpath(filename).read_text("utf-8")
        await conn.execute(text.encode())

    return apply


async def _create_samples(conn: Conn, settings: Settings) -> None:
    await layout.create_samples(conn, default_catalog(), settings)


async def _create_hourly(conn: Conn, settings: Settings) -> None:
    await hourly.create(conn, default_catalog(), settings)


async def _materialized_only(conn: Conn, settings: Settings) -> None:
    await hourly.read_materialized_only(conn, settings)


async def _catalog_signals(conn: Conn, settings: Settings) -> None:
    catalog = default_catalog()
    await layout.add_signal_columns(conn, catalog)
    await hourly.add_signal_columns(conn, catalog, settings)
    await conn.execute(
        "ALTER TABLE vehicles ADD COLUMN IF NOT EXISTS dropped_samples bigint"
        " CHECK (dropped_samples BETWEEN 0 AND 9007199254740991)"
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core records", _sql_file("0001_core.sql")),
    Migration(2, "samples table", _create_samples),
    Migration(3, "rule engine state", _sql_file("0003_rule_state.sql")),
    Migration(4, "alert lifecycle", _sql_file("0004_alert_lifecycle.sql")),
    Migration(5, "rule kinds: packed rule state, service history", _sql_file("0005_rule_kinds.sql")),
    Migration(6, "API keys", _sql_file("0006_api_keys.sql")),
    Migration(7, "customer matching indexes", _sql_file("0007_customer_matching.sql")),
    Migration(8, "alert queue: assignment, notes, announcements", _sql_file("0008_alert_queue.sql")),
    Migration(9, "consents", _sql_file("0009_consents.sql")),
    Migration(10, "customer erasure", _sql_file("0010_erasure.sql")),
    Migration(11, "webhook outbox", _sql_file("0011_webhook_outbox.sql")),
    Migration(12, "households, branches, recalls, invoices", _sql_file("0012_customer_records.sql")),
    Migration(13, "customer merges", _sql_file("0013_customer_merges.sql")),
    Migration(14, "contacts", _sql_file("0014_contacts.sql")),
    Migration(15, "software options", _sql_file("0015_features.sql")),
    Migration(16, "usage-based offers", _sql_file("0016_offers.sql")),
    Migration(17, "console sessions", _sql_file("0017_console_sessions.sql")),
    Migration(18, "hourly rollup on both layouts", _create_hourly),
    Migration(19, "incidents and outcomes", _sql_file("0019_incidents.sql")),
    Migration(20, "hourly aggregate read materialized only", _materialized_only),
    Migration(21, "OBD-II signals (MAF, MAP, run time, MIL); samples a vehicle's buffer dropped", _catalog_signals),
    Migration(22, "segments and campaigns", _sql_file("0022_campaigns.sql")),
    Migration(23, "fleet health: finished weeks kept", _sql_file("0023_fleet_weekly.sql")),
)


async def upgrade(settings: Settings) -> list[int]:
    """Apply pending migrations; returns the versions applied (empty when up to date)."""
    schema = schema_name(settings)
    applied: list[int] = []
    async with await connect(settings, autocommit=True) as conn:
        cur = await conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        if await cur.fetchone() is None:  # a role given a schema, not the database, may not CREATE SCHEMA at all
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in MIGRATIONS:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_KEY, schema))
                cur = await conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,))
                if await cur.fetchone():
                    continue
                await migration.apply(conn, settings)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
                applied.append(migration.version)
                log.info("applied migration %04d %s", migration.version, migration.name)
    return applied
