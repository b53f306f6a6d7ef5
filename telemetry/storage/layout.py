"""The `samples` table: one wide row per (vehicle, time), one column per catalog signal.

Why wide: on this 2-core machine a narrow (vehicle, signal, ts, value) row with its unique key
takes ~136-243k samples/s through server-side COPY, which is the ingest target itself; a wide row
takes ~1.75M samples/s at ~12.5 bytes per sample (see docs/operations.md, "Storage"). The primary key
(vehicle_id, ts) stores each (vehicle, signal, time) once; a later message with other signals
of the same vehicle and time fills the row's empty columns.

Time partitioning: a TimescaleDB hypertable (1-day chunks, compression after 7 days; the hourly
aggregate is `telemetry.storage.hourly`) when the server's role can have the extension (`choose_layout`); otherwise
native daily range partitions. The extension lives in TELEMETRY_EXTENSION_SCHEMA (public), never
in a tenant's schema, so that several schemas share it and dropping one drops nothing of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg
from psycopg import sql

from telemetry.catalog import Catalog
from telemetry.errors import ConfigError
from telemetry.settings import Settings
from telemetry.storage.db import Conn

log = logging.getLogger(__name__)

TIMESCALEDB = "timescaledb"
NATIVE = "native"
LAYOUT_QUERY = "SELECT value FROM storage_info WHERE key = 'samples_layout'"


@dataclass(frozen=True)
class LayoutChoice:
    layout: str
    reason: str  # logged, stored and shown by GET /health


async def choose_layout(conn: Conn, *, wanted: str, extension_schema: str) -> LayoutChoice:
    """TimescaleDB when this role can have it, decided from what an unprivileged role may see
    (`pg_extension`, `pg_available_extensions`, the preloaded loader's own settings) and a CREATE
    EXTENSION tried in a savepoint; `shared_preload_libraries` itself is not readable without
    pg_read_all_settings."""
    if wanted == NATIVE:
        return LayoutChoice(NATIVE, "TELEMETRY_SAMPLES_LAYOUT=native")
    cur = await conn.execute(
        "SELECT e.extversion, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'timescaledb'"
    )
    if installed := await cur.fetchone():
        return LayoutChoice(TIMESCALEDB, f"timescaledb {installed['extversion']} is installed in schema "
                                         f"{installed['nspname']}")  # fmt: skip
    cur = await conn.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'")
    available = await cur.fetchone()
    if available is None:
        if wanted == TIMESCALEDB:
            raise ConfigError("TELEMETRY_SAMPLES_LAYOUT=timescaledb, but this PostgreSQL has no timescaledb extension")
        return LayoutChoice(NATIVE, "the timescaledb extension is not available on this server")
    # Not preloaded, CREATE EXTENSION would end the connection (FATAL, no savepoint helps); the
    # loader's settings are what every role can see of a preloaded TimescaleDB.
    cur = await conn.execute("SELECT current_setting('timescaledb.disable_load', true) IS NOT NULL AS preloaded")
    preloaded = await cur.fetchone()
    if not (preloaded and preloaded["preloaded"]):
        why = f"timescaledb {available['default_version']} is installed but not in shared_preload_libraries"
        if wanted == TIMESCALEDB:
            raise ConfigError(f"TELEMETRY_SAMPLES_LAYOUT=timescaledb, but {why}")
        return LayoutChoice(NATIVE, why)
    create = sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb SCHEMA {}").format(sql.Identifier(extension_schema))
    try:
        async with conn.transaction():  # a savepoint: a refusal leaves the migration's transaction usable
            await conn.execute(create)
    except psycopg.errors.InsufficientPrivilege:
        raise ConfigError(
            f"timescaledb is available but this role may not create it: as a superuser, run"
            f" CREATE EXTENSION timescaledb SCHEMA {extension_schema}; in this database"
            " (or set TELEMETRY_SAMPLES_LAYOUT=native)"
        ) from None
    except psycopg.Error as refused:
        if wanted == TIMESCALEDB:
            raise ConfigError(f"timescaledb cannot be used: {refused.diag.message_primary}") from None
        return LayoutChoice(
            NATIVE,
            f"timescaledb {available['default_version']} is available but unusable: {refused.diag.message_primary}",
        )
    return LayoutChoice(
        TIMESCALEDB, f"created extension timescaledb {available['default_version']} in schema {extension_schema}"
    )


def signal_columns(catalog: Catalog) -> sql.Composed:
    cols = []
    for s in catalog.signals:
        kind = "text[]" if s.kind == "string_list" else "double precision"
        cols.append(sql.SQL("{} {}").format(sql.Identifier(s.column), sql.SQL(kind)))
    return sql.SQL(",\n    ").join(cols)


async def create_samples(conn: Conn, catalog: Catalog, settings: Settings) -> str:
    """Create the samples table in the layout the server supports; returns the layout name."""
    choice = await choose_layout(conn, wanted=settings.samples_layout, extension_schema=settings.extension_schema)
    log.info("samples layout: %s (%s)", choice.layout, choice.reason)
    use_timescale = choice.layout == TIMESCALEDB
    partition = sql.SQL("") if use_timescale else sql.SQL(" PARTITION BY RANGE (ts)")
    await conn.execute(
        sql.SQL(
            "CREATE TABLE samples (\n    vehicle_id integer NOT NULL,\n    ts timestamptz NOT NULL,\n    {cols},\n"
            "    PRIMARY KEY (vehicle_id, ts)\n){partition}"
        ).format(cols=signal_columns(catalog), partition=partition)
    )
    if use_timescale:
        await _timescale_features(conn, settings.extension_schema)
    for key, value in (("samples_layout", choice.layout), ("samples_layout_reason", choice.reason)):
        await conn.execute(
            "INSERT INTO storage_info (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )
    return choice.layout


async def table_columns(conn: Conn, table: str) -> set[str]:
    """The columns `table` (a table or a materialized view) has in the current schema."""
    cur = await conn.execute(
        "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0"
        " AND NOT a.attisdropped",
        (table,),
    )
    return {str(r["attname"]) for r in await cur.fetchall()}


async def add_signal_columns(conn: Conn, catalog: Catalog) -> list[str]:
    """Give `samples` a column for every catalog signal it lacks (signals added after the table was
    made); returns the columns added. Nullable without default: no rewrite, on either layout."""
    have = await table_columns(conn, "samples")
    added = [s for s in catalog.signals if s.column not in have]
    for s in added:
        kind = "text[]" if s.kind == "string_list" else "double precision"
        await conn.execute(
            sql.SQL("ALTER TABLE samples ADD COLUMN {} {}").format(sql.Identifier(s.column), sql.SQL(kind))
        )
    return [s.column for s in added]


def ts_function(extension_schema: str, name: str) -> sql.Composed:
    """A TimescaleDB function, qualified by the extension's schema (not the tenant's search path)."""
    return sql.SQL("{}.{}").format(sql.Identifier(extension_schema), sql.Identifier(name))


async def _timescale_features(conn: Conn, ext: str) -> None:

    def fn(name: str) -> sql.Composed:
        return ts_function(ext, name)

    await conn.execute(
        sql.SQL("SELECT {}('samples', 'ts', chunk_time_interval => INTERVAL '1 day')").format(fn("create_hypertable"))
    )
    await conn.execute(
        "ALTER TABLE samples SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id',"
        " timescaledb.compress_orderby = 'ts')"
    )
    await conn.execute(sql.SQL("SELECT {}('samples', INTERVAL '7 days')").format(fn("add_compression_policy")))


async def samples_layout_reason(conn: Conn) -> str | None:
    cur = await conn.execute("SELECT value FROM storage_info WHERE key = 'samples_layout_reason'")
    row = await cur.fetchone()
    return None if row is None else str(row["value"])


async def samples_layout(conn: Conn) -> str:
    cur = await conn.execute(LAYOUT_QUERY)
    row = await cur.fetchone()
    if row is None:
        return "missing"
    return str(row["value"])
