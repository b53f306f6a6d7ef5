"""The `samples` table: one wide row per (vehicle, time), one column per catalog signal.

Why wide: on this 2-core machine a narrow (vehicle, signal, ts, value) row with its unique key
takes ~136-243k samples/s through server-side COPY, which is the ingest target itself; a wide row
takes ~1.75M samples/s at ~12.5 bytes per sample (see docs/operations.md, "Storage"). The primary key
(vehicle_id, ts) stores each (vehicle, signal, time) once; a later message with other signals
of the same vehicle and time fills the row's empty columns.

Time partitioning: a TimescaleDB hypertable (1-day chunks, compression after 7 days, an hourly
continuous aggregate) when the extension is preloaded; otherwise native daily range partitions.
"""

from __future__ import annotations

from psycopg import sql

from telemetry.catalog import Catalog
from telemetry.storage.db import Conn

TIMESCALEDB = "timescaledb"
NATIVE = "native"
LAYOUT_QUERY = "SELECT value FROM storage_info WHERE key = 'samples_layout'"


async def timescaledb_available(conn: Conn) -> bool:
    cur = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
        " AND current_setting('shared_preload_libraries') LIKE '%%timescaledb%%' AS ok"
    )
    row = await cur.fetchone()
    return bool(row and (row["ok"] if isinstance(row, dict) else row[0]))


def signal_columns(catalog: Catalog) -> sql.Composed:
    cols = []
    for s in catalog.signals:
        kind = "text[]" if s.kind == "string_list" else "double precision"
        cols.append(sql.SQL("{} {}").format(sql.Identifier(s.column), sql.SQL(kind)))
    return sql.SQL(",\n    ").join(cols)


async def create_samples(conn: Conn, catalog: Catalog) -> str:
    """Create the samples table in the layout the server supports; returns the layout name."""
    use_timescale = await timescaledb_available(conn)
    partition = sql.SQL("") if use_timescale else sql.SQL(" PARTITION BY RANGE (ts)")
    await conn.execute(
        sql.SQL(
            "CREATE TABLE samples (\n    vehicle_id integer NOT NULL,\n    ts timestamptz NOT NULL,\n    {cols},\n"
            "    PRIMARY KEY (vehicle_id, ts)\n){partition}"
        ).format(cols=signal_columns(catalog), partition=partition)
    )
    if use_timescale:
        await _timescale_features(conn, catalog)
        layout = TIMESCALEDB
    else:
        layout = NATIVE
    await conn.execute(
        "INSERT INTO storage_info (key, value) VALUES ('samples_layout', %s)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        (layout,),
    )
    return layout


async def _timescale_features(conn: Conn, catalog: Catalog) -> None:
    await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    await conn.execute("SELECT create_hypertable('samples', 'ts', chunk_time_interval => INTERVAL '1 day')")
    await conn.execute(
        "ALTER TABLE samples SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id',"
        " timescaledb.compress_orderby = 'ts')"
    )
    await conn.execute("SELECT add_compression_policy('samples', INTERVAL '7 days')")
    aggregates = []
    for s in catalog.numeric:
        col = sql.Identifier(s.column)
        aggregates.append(
            sql.SQL("avg({c}) AS {a}, min({c}) AS {lo}, max({c}) AS {hi}").format(
                c=col,
                a=sql.Identifier(f"{s.column}_avg"),
                lo=sql.Identifier(f"{s.column}_min"),
                hi=sql.Identifier(f"{s.column}_max"),
            )
        )
    await conn.execute(
        sql.SQL(
            "CREATE MATERIALIZED VIEW samples_hourly WITH (timescaledb.continuous) AS"
            " SELECT vehicle_id, time_bucket(INTERVAL '1 hour', ts) AS bucket, count(*) AS rows, {aggs}"
            " FROM samples GROUP BY vehicle_id, bucket WITH NO DATA"
        ).format(aggs=sql.SQL(", ").join(aggregates))
    )
    await conn.execute(
        "SELECT add_continuous_aggregate_policy('samples_hourly', start_offset => INTERVAL '3 days',"
        " end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes')"
    )


async def samples_layout(conn: Conn) -> str:
    cur = await conn.execute(LAYOUT_QUERY)
    row = await cur.fetchone()
    if row is None:
        return "missing"
    return str(row["value"])
