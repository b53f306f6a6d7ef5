"""`samples_hourly`: per vehicle and UTC hour, each numeric signal's count, sum, min and max.

Long chart windows read these instead of raw samples (a year of one vehicle is 8,760 rows, not
half a million). Count and sum rather than a mean, so that hours merge into wider buckets exactly.

- TimescaleDB: a continuous aggregate refreshed by TimescaleDB's own policy, read materialized
  only; hours past its newest materialized one are read from raw samples (the same answer as
  real-time aggregation, without its view computing every signal's columns for every hour).
- Native PostgreSQL: a table of the same columns. Every write marks the (vehicle, hour) it touched
  in `samples_hourly_pending`; `roll_up` recomputes finished pending hours from raw samples. Reads
  take pending hours from raw samples, so a chart is exact whenever the rollup last ran.

Retention expires both tables with the samples (aggregated locations must not outlive them).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from telemetry.catalog import Catalog, Signal
from telemetry.settings import Settings
from telemetry.storage.db import Conn, Row, SyncConn, connect
from telemetry.storage.layout import NATIVE, TIMESCALEDB, samples_layout, table_columns, ts_function

HOUR_S = 3600
HOUR_MS = HOUR_S * 1000
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # hour boundaries in UTC whatever the session's TimeZone
ROLL_UP_HOURS_PER_TRANSACTION = 500
REFRESH_ATTEMPTS = 60


def _parts(s: Signal) -> dict[str, sql.Identifier]:
    return {k: sql.Identifier(f"{s.column}_{k}") for k in ("n", "sum", "min", "max")}


def _aggregates(catalog: Catalog) -> sql.Composed:
    return sql.SQL(", ").join(
        sql.SQL("count({c}) AS {n}, sum({c}) AS {sum}, min({c}) AS {min}, max({c}) AS {max}").format(
            c=sql.Identifier(s.column), **_parts(s)
        )
        for s in catalog.numeric
    )


async def create(conn: Conn, catalog: Catalog, settings: Settings) -> None:
    """Create `samples_hourly` for the layout in use (replacing the averages-only aggregate that
    TimescaleDB installs before this migration had)."""
    layout = await samples_layout(conn)
    if layout == TIMESCALEDB:
        await conn.execute("DROP MATERIALIZED VIEW IF EXISTS samples_hourly")
        fn = ts_function(settings.extension_schema, "time_bucket")
        await conn.execute(
            sql.SQL(
                "CREATE MATERIALIZED VIEW samples_hourly"
                " WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS"
                " SELECT vehicle_id, {bucket}(INTERVAL '1 hour', ts) AS bucket, count(*) AS rows, {aggs}"
                " FROM samples GROUP BY vehicle_id, bucket WITH NO DATA"
            ).format(bucket=fn, aggs=_aggregates(catalog))
        )
        await _few_chunks(conn, settings.extension_schema)
        policy = ts_function(settings.extension_schema, "add_continuous_aggregate_policy")
        await conn.execute(
            sql.SQL(
                "SELECT {}('samples_hourly', start_offset => NULL, end_offset => INTERVAL '1 hour',"
                " schedule_interval => INTERVAL '30 minutes')"
            ).format(policy)
        )
        return
    assert layout == NATIVE, layout
    columns = sql.SQL(", ").join(
        sql.SQL("{n} integer NOT NULL, {sum} double precision, {min} double precision, {max} double precision").format(
            **_parts(s)
        )
        for s in catalog.numeric
    )
    await conn.execute(
        sql.SQL(
            "CREATE TABLE samples_hourly (vehicle_id integer NOT NULL, bucket timestamptz NOT NULL,"
            " rows bigint NOT NULL, {columns}, PRIMARY KEY (vehicle_id, bucket))"
        ).format(columns=columns)
    )
    await conn.execute(
        "CREATE TABLE samples_hourly_pending (vehicle_id integer NOT NULL, hour timestamptz NOT NULL,"
        " PRIMARY KEY (vehicle_id, hour))"
    )
    await conn.execute(  # what is already stored rolls up on the worker's first rounds
        "INSERT INTO samples_hourly_pending SELECT DISTINCT vehicle_id, date_bin('1 hour', ts, %s) FROM samples",
        (ORIGIN,),
    )


async def add_signal_columns(conn: Conn, catalog: Catalog, settings: Settings) -> None:
    """Aggregate the numeric signals added to the catalog after `samples_hourly` was made. Native: new
    columns (zero counts for the hours already rolled up, which had none of these signals). TimescaleDB
    cannot add columns to a continuous aggregate: it is made anew and its policy fills it again;
    meanwhile reads take the hours not yet materialized from raw samples, so charts stay exact."""
    have = await table_columns(conn, "samples_hourly")
    missing = [s for s in catalog.numeric if f"{s.column}_n" not in have]
    if not missing:
        return
    if await samples_layout(conn) == TIMESCALEDB:
        await create(conn, catalog, settings)
        return
    for s in missing:
        await conn.execute(
            sql.SQL(
                "ALTER TABLE samples_hourly ADD COLUMN {n} integer NOT NULL DEFAULT 0,"
                " ADD COLUMN {sum} double precision,"
                " ADD COLUMN {min} double precision, ADD COLUMN {max} double precision"
            ).format(**_parts(s))
        )


async def _few_chunks(conn: Conn, extension_schema: str) -> None:
    """Half-year chunks: a year's chart plans two or three chunks, not thirty-seven (planning, not
    reading, was most of its time). Retention stays exact whatever the chunk (`forget_before_sync`)."""
    fn = ts_function(extension_schema, "set_chunk_time_interval")
    await conn.execute(sql.SQL("SELECT {}('samples_hourly', INTERVAL '180 days')").format(fn))


async def read_materialized_only(conn: Conn, settings: Settings) -> None:
    """Migration 20: an aggregate created by migration 18 as first written (real-time, ten-day
    chunks) is read materialized only, as `read_hourly_buckets` expects, in half-year chunks."""
    if await samples_layout(conn) == TIMESCALEDB:
        await conn.execute("ALTER MATERIALIZED VIEW samples_hourly SET (timescaledb.materialized_only = true)")
        await _few_chunks(conn, settings.extension_schema)


async def mark(conn: Conn, changed: Iterable[tuple[int, int]]) -> None:
    """Native layout: note the (vehicle, hour) of every (vehicle, ts ms) row a write changed."""
    hours = {(v, t - t % HOUR_MS) for v, t in changed}
    if hours:
        await conn.execute(
            "INSERT INTO samples_hourly_pending (vehicle_id, hour)"
            " SELECT v, timestamptz 'epoch' + h * interval '1 millisecond'"
            " FROM unnest(%s::integer[], %s::bigint[]) AS u(v, h) ORDER BY 1, 2 ON CONFLICT DO NOTHING",
            ([v for v, _ in hours], [h for _, h in hours]),
        )


async def roll_up(conn: Conn, catalog: Catalog, *, now: datetime, limit: int = ROLL_UP_HOURS_PER_TRANSACTION) -> int:
    """Native layout: recompute up to `limit` pending hours that have ended, in one transaction;
    returns how many. Concurrent writers are safe: a write that commits after this transaction
    read the samples leaves its hour pending (its marker is not among those taken here)."""
    fields = sql.SQL(", ").join(sql.SQL("{n}, {sum}, {min}, {max}").format(**_parts(s)) for s in catalog.numeric)
    async with conn.transaction():
        cur = await conn.execute(
            "DELETE FROM samples_hourly_pending WHERE (vehicle_id, hour) IN ("
            " SELECT vehicle_id, hour FROM samples_hourly_pending WHERE hour + interval '1 hour' <= %s"
            " ORDER BY hour LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING vehicle_id, hour",
            (now, limit),
        )
        taken = await cur.fetchall()
        if not taken:
            return 0
        keys = ([r["vehicle_id"] for r in taken], [r["hour"] for r in taken])
        await conn.execute(
            "DELETE FROM samples_hourly h USING unnest(%s::integer[], %s::timestamptz[]) AS p(v, hour)"
            " WHERE h.vehicle_id = p.v AND h.bucket = p.hour",
            keys,
        )
        # One scan of the box the taken hours span, with literal time bounds so that only its
        # partitions are planned; combinations in the box that are not pending are filtered out.
        await conn.execute(
            sql.SQL(
                "INSERT INTO samples_hourly (vehicle_id, bucket, rows, {fields})"
                " SELECT * FROM (SELECT vehicle_id, date_bin('1 hour', ts, {origin}) AS hour, count(*), {aggs}"
                " FROM samples WHERE vehicle_id = ANY(%s) AND ts >= {lo} AND ts < {hi} GROUP BY 1, 2) AS a"
                " WHERE (a.vehicle_id, a.hour) IN (SELECT * FROM unnest(%s::integer[], %s::timestamptz[]))"
            ).format(
                fields=fields,
                aggs=_aggregates(catalog),
                origin=sql.Literal(ORIGIN),
                lo=sql.Literal(min(keys[1])),
                hi=sql.Literal(max(keys[1]) + timedelta(hours=1)),
            ),
            (sorted(set(keys[0])), *keys),
        )
    return len(taken)


async def roll_up_all(conn: Conn, catalog: Catalog, *, now: datetime) -> int:
    """Native layout: every finished pending hour; returns how many."""
    total = 0
    while done := await roll_up(conn, catalog, now=now):
        total += done
    return total


async def refresh(settings: Settings, catalog: Catalog) -> None:
    """Bring `samples_hourly` up to date now (after a bulk load that bypassed the ingest path)."""
    async with await connect(settings, autocommit=True) as conn:
        layout = await samples_layout(conn)
        if layout == TIMESCALEDB:
            fn = ts_function(settings.extension_schema, "refresh_continuous_aggregate")
            for attempt in range(REFRESH_ATTEMPTS):
                try:
                    await conn.execute(sql.SQL("CALL {}('samples_hourly', NULL, NULL)").format(fn))
                    return
                except psycopg.errors.LockNotAvailable:  # the policy's own refresh is running: wait for it
                    if attempt == REFRESH_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.5)
        await conn.execute(
            "INSERT INTO samples_hourly_pending SELECT DISTINCT vehicle_id, date_bin('1 hour', ts, %s) FROM samples"
            " ON CONFLICT DO NOTHING",
            (ORIGIN,),
        )
        await roll_up_all(conn, catalog, now=datetime.now(UTC) + timedelta(days=1))


def forget_before_sync(conn: SyncConn, extension_schema: str, first_kept: datetime) -> None:
    """TimescaleDB: recompute `samples_hourly` before `first_kept` once the raw chunks are gone,
    which removes the hours of a partly dropped aggregate chunk that `drop_chunks` must keep
    (its chunks span ten days); `conn` must be outside a transaction."""
    fn = ts_function(extension_schema, "refresh_continuous_aggregate")
    autocommit, conn.autocommit = conn.autocommit, True
    try:
        for attempt in range(REFRESH_ATTEMPTS):
            try:
                conn.execute(sql.SQL("CALL {}('samples_hourly', NULL, %s)").format(fn), (first_kept,))
                return
            except psycopg.errors.LockNotAvailable:  # the policy's own refresh is running: wait for it
                if attempt == REFRESH_ATTEMPTS - 1:
                    raise
                time.sleep(0.5)
    finally:
        conn.autocommit = autocommit


def hour_floor(moment: datetime) -> datetime:
    return ORIGIN + timedelta(seconds=(moment - ORIGIN).total_seconds() // HOUR_S * HOUR_S)


async def read_hourly_buckets(
    conn: Conn, layout: str, *, vehicle_id: int, signal: Signal, start: datetime, end: datetime, buckets: int
) -> tuple[datetime, float, list[Row]]:
    """One signal in at most `buckets` buckets of whole hours from `samples_hourly`, with the hours
    it does not hold yet from raw samples: pending hours on the native layout, hours past the
    aggregate's last materialized one on TimescaleDB. Returns the aligned start, the bucket width
    in seconds and the non-empty buckets' (bucket index, min, max, mean, n)."""
    width = math.ceil((end - start).total_seconds() / buckets / HOUR_S) * HOUR_S
    aligned = hour_floor(start)
    params: dict[str, object] = {"v": vehicle_id, "start": aligned, "end": end, "width": width}
    p = _parts(signal)
    hourly = sql.SQL(
        "SELECT bucket, {n} AS n, {sum} AS total, {min} AS lo, {max} AS hi FROM samples_hourly"
        " WHERE vehicle_id = %(v)s AND bucket >= %(start)s AND bucket < %(end)s AND {n} > 0"
    ).format(**p)
    raw = sql.SQL(
        "SELECT date_bin('1 hour', ts, {origin}) AS bucket, count({c}), sum({c}), min({c}), max({c}) FROM samples"
        " WHERE vehicle_id = %(v)s AND ts >= {lo} AND ts < {hi} AND {c} IS NOT NULL"
    )
    if layout == NATIVE:
        cur = await conn.execute(
            "SELECT hour FROM samples_hourly_pending WHERE vehicle_id = %(v)s AND hour >= %(start)s AND hour < %(end)s",
            params,
        )
        params["pending"] = pending = [r["hour"] for r in await cur.fetchall()]
        if pending:  # raw samples for these hours only, time-bounded so that only their partitions are planned
            hourly = sql.SQL("{hourly} AND bucket <> ALL(%(pending)s) UNION ALL {raw}").format(
                hourly=hourly,
                raw=raw.format(
                    origin=sql.Literal(ORIGIN), c=sql.Identifier(signal.column),
                    lo=sql.Literal(min(pending)), hi=sql.Literal(max(pending) + timedelta(hours=1)),
                ),
            )  # fmt: skip
            hourly = sql.SQL("{} AND date_bin('1 hour', ts, {}) = ANY(%(pending)s) GROUP BY 1").format(
                hourly, sql.Literal(ORIGIN)
            )
    else:  # TimescaleDB, materialized hours only: past the newest one, the raw samples
        cur = await conn.execute("SELECT max(bucket) + interval '1 hour' AS after FROM samples_hourly")
        row = await cur.fetchone()
        after = max(aligned, row["after"] if row and row["after"] is not None else aligned)
        if after < end:
            hourly = sql.SQL("{hourly} AND bucket < {after} UNION ALL {raw} GROUP BY 1").format(
                hourly=hourly,
                after=sql.Literal(after),
                raw=raw.format(
                    origin=sql.Literal(ORIGIN), c=sql.Identifier(signal.column),
                    lo=sql.Literal(after), hi=sql.Literal(end),
                ),
            )  # fmt: skip
    query = sql.SQL(
        "SELECT floor(date_part('epoch', bucket - %(start)s) / %(width)s)::bigint AS b, min(lo) AS min,"
        " max(hi) AS max, sum(total) / sum(n)::double precision AS mean, sum(n)::bigint AS n"
        " FROM ({hourly}) AS h GROUP BY 1 ORDER BY 1"
    ).format(hourly=hourly)
    cur = await conn.execute(query, params)
    return aligned, float(width), await cur.fetchall()
