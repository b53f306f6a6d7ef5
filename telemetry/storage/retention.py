"""Retention: samples older than the window go by whole partitions (or TimescaleDB chunks),
optionally exported to Parquet first, one file per UTC day."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql

from telemetry.catalog import Catalog, default_catalog
from telemetry.settings import Settings
from telemetry.storage import hourly
from telemetry.storage.db import SyncConn, connect_sync
from telemetry.storage.layout import LAYOUT_QUERY, NATIVE, TIMESCALEDB, ts_function

log = logging.getLogger(__name__)
_PARTITION = re.compile(r"^samples_p(\d{8})$")
EXPORT_CHUNK_ROWS = 50_000


def _schema(catalog: Catalog) -> pa.Schema:
    fields = [pa.field("vin", pa.string()), pa.field("ts", pa.timestamp("us", tz="UTC"))]
    for s in catalog.signals:
        kind = pa.list_(pa.string()) if s.kind == "string_list" else pa.float64()
        fields.append(pa.field(s.path, kind, metadata={"unit": s.unit or "", "column": s.column}))
    return pa.schema(fields)


def export_day(conn: SyncConn, catalog: Catalog, day: date, out_dir: Path) -> tuple[Path, int]:
    """Write the day's samples (VIN, time, one column per signal path) to `samples-YYYY-MM-DD.parquet`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"samples-{day.isoformat()}.parquet"
    schema = _schema(catalog)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    cols = sql.SQL(", ").join(sql.Identifier("s", c.column) for c in catalog.signals)
    query = sql.SQL(
        "SELECT v.vin, s.ts, {cols} FROM samples s JOIN vehicles v ON v.id = s.vehicle_id"
        " WHERE s.ts >= %s AND s.ts < %s ORDER BY s.vehicle_id, s.ts"
    ).format(cols=cols)
    rows_written = 0
    tmp = path.with_suffix(".parquet.partial")
    with (
        pq.ParquetWriter(tmp, schema, compression="zstd") as writer,
        conn.cursor(name=f"export_{day:%Y%m%d}", row_factory=psycopg.rows.tuple_row) as cur,
    ):
        cur.execute(query, (start, start + timedelta(days=1)))
        while rows := cur.fetchmany(EXPORT_CHUNK_ROWS):
            columns = list(zip(*rows, strict=True))
            arrays = {f.name: pa.array(col, type=f.type) for f, col in zip(schema, columns, strict=True)}
            writer.write_table(pa.table(arrays, schema=schema))
            rows_written += len(rows)
    tmp.replace(path)
    return path, rows_written


def expired_days(conn: SyncConn, now: datetime, retention_days: int) -> list[date]:
    """Days whose whole partition lies outside the window (native layout)."""
    cutoff = (now - timedelta(days=retention_days)).date()
    cur = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = to_regclass('samples')"
    )
    days = []
    for row in cur.fetchall():
        match = _PARTITION.match(row["relname"])
        if match:
            day = datetime.strptime(match.group(1), "%Y%m%d").date()
            if day < cutoff:
                days.append(day)
    return sorted(days)


def apply_retention(
    conn: SyncConn,
    catalog: Catalog,
    *,
    retention_days: int,
    now: datetime,
    export_dir: Path | None,
    extension_schema: str = "public",
) -> list[date]:
    """Export (when asked) then drop what is older than the window, whole UTC days at a time, on
    either layout; returns the days dropped. Only days that hold samples are exported."""
    row = conn.execute(LAYOUT_QUERY).fetchone()
    layout = row["value"] if row else "missing"
    if layout == TIMESCALEDB:
        return _drop_chunks(conn, catalog, now - timedelta(days=retention_days), export_dir, extension_schema)
    assert layout == NATIVE, layout
    dropped = []
    for day in expired_days(conn, now, retention_days):
        partition = sql.Identifier(f"samples_p{day:%Y%m%d}")
        held = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {}) AS held").format(partition)).fetchone()
        if export_dir is not None and held and held["held"]:
            path, count = export_day(conn, catalog, day, export_dir)
            log.info("exported %d rows of %s to %s", count, day, path)
        conn.execute(sql.SQL("DROP TABLE {}").format(partition))
        conn.commit()
        dropped.append(day)
        log.info("dropped samples of %s (retention %d days)", day, retention_days)
    cutoff = (now - timedelta(days=retention_days)).date()
    first_kept = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
    for table, column in (("samples_hourly", "bucket"), ("samples_hourly_pending", "hour")):
        gone = conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} < %s").format(sql.Identifier(table), sql.Identifier(column)),
            (first_kept,),
        ).rowcount
        log.info("dropped %d row(s) of %s older than %s", gone, table, cutoff)
    conn.commit()
    return dropped


def _drop_chunks(
    conn: SyncConn, catalog: Catalog, cutoff: datetime, export_dir: Path | None, extension_schema: str
) -> list[date]:
    """TimescaleDB: chunks are whole UTC days, so everything before the cutoff's day goes, from the
    samples and from `samples_hourly` (aggregates, locations included, must not outlive them)."""
    first_kept = datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=UTC)
    days = [
        r["day"]
        for r in conn.execute(
            "SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date AS day FROM samples WHERE ts < %s ORDER BY day",
            (first_kept,),
        ).fetchall()
    ]
    if export_dir is not None:
        for day in days:
            path, count = export_day(conn, catalog, day, export_dir)
            log.info("exported %d rows of %s to %s", count, day, path)
    drop = ts_function(extension_schema, "drop_chunks")
    for relation in ("samples", "samples_hourly"):
        chunks = conn.execute(
            sql.SQL("SELECT {}(%s, older_than => %s::timestamptz) AS chunk").format(drop), (relation, first_kept)
        ).fetchall()
        log.info("dropped %d chunk(s) of %s older than %s", len(chunks), relation, first_kept.date())
        conn.commit()
        if relation == "samples":
            hourly.forget_before_sync(conn, extension_schema, first_kept)
    return days


def run_retention(settings: Settings, now: datetime | None = None) -> list[date]:
    with connect_sync(settings) as conn:
        return apply_retention(
            conn,
            default_catalog(),
            retention_days=settings.retention_days,
            now=now or datetime.now(UTC),
            export_dir=settings.retention_export_dir,
            extension_schema=settings.extension_schema,
        )
