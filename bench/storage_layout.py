"""Storage layouts compared on this machine: narrow rows vs wide rows, and our full write path.

    python -m bench.storage_layout [--vehicles 2000] [--moments 25] [--repeats 3]

It also writes the same rows once more into a schema per layout the database offers (native, and
TimescaleDB when it can be had) and reports bytes per sample at rest: native, TimescaleDB as
written, and TimescaleDB after compressing every chunk.

Each figure is the median of `--repeats` runs, in samples per second, over the same generated
fleet data (vehicles x moments x the catalog's numeric signals, arriving in time order). The
last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import time

import numpy as np
from psycopg import sql

from bench import smoke
from telemetry.catalog import default_catalog
from telemetry.errors import ConfigError
from telemetry.settings import Settings
from telemetry.storage.db import Conn, connect
from telemetry.storage.layout import NATIVE, TIMESCALEDB, ts_function
from telemetry.storage.migrate import upgrade
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.samples import SampleWriter
from telemetry.timeutil import now_ms


def fleet_data(vehicles: int, moments: int, signals: int, seed: int = 7) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    start = now_ms() - moments * 1000
    ts = np.repeat(start + np.arange(moments) * 1000, vehicles * signals)
    vid = np.tile(np.repeat(np.arange(1, vehicles + 1), signals), moments)
    sig = np.tile(np.arange(signals), vehicles * moments)
    val = rng.normal(50, 10, len(ts))
    return vid.astype(np.int32), ts.astype(np.int64), sig.astype(np.int16), val


async def narrow(conn: Conn, vid: np.ndarray, ts: np.ndarray, sig: np.ndarray, val: np.ndarray) -> float:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS bench_narrow (vehicle_id int, signal_id int2, ts timestamptz, value float8,"
        " UNIQUE (vehicle_id, signal_id, ts))"
    )
    await conn.execute("TRUNCATE bench_narrow")
    await conn.commit()
    stamp = np.datetime64("1970-01-01T00:00:00", "ms") + ts.astype("timedelta64[ms]")
    rows = list(zip(vid.tolist(), sig.tolist(), stamp.astype("datetime64[us]").tolist(), val.tolist(), strict=True))
    began = time.perf_counter()
    async with conn.cursor() as cur, cur.copy("COPY bench_narrow FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["int4", "int2", "timestamp", "float8"])
        for row in rows:
            await copy.write_row(row)
    await conn.commit()
    return len(val) / (time.perf_counter() - began)


async def wide(
    conn: Conn,
    writer: SampleWriter,
    vid: np.ndarray,
    ts: np.ndarray,
    sig: np.ndarray,
    val: np.ndarray,
) -> tuple[float, float]:
    """(ours end to end incl. pivot/encode/merge, server COPY of the same bytes into a keyed table)."""
    await conn.execute("TRUNCATE samples")
    await conn.commit()
    began = time.perf_counter()
    rows = writer.pivot(vid, ts, sig, val)
    async with conn.transaction():
        await writer.write(conn, rows)
    ours = len(val) / (time.perf_counter() - began)

    stage_cols = sql.SQL(", ").join(sql.SQL("{} float8").format(sql.Identifier(s.column)) for s in writer.numeric)
    await conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS bench_wide (vehicle_id int, ts_ms bigint, {}, PRIMARY KEY (vehicle_id, ts_ms))"
        ).format(stage_cols)
    )
    await conn.execute("TRUNCATE bench_wide")
    await conn.commit()
    payload = writer.encode_copy(rows)
    began = time.perf_counter()
    async with conn.cursor() as cur, cur.copy("COPY bench_wide FROM STDIN (FORMAT BINARY)") as copy:
        await copy.write(payload)
    await conn.commit()
    return ours, len(val) / (time.perf_counter() - began)


async def at_rest(base: Settings, writer: SampleWriter, data: tuple[np.ndarray, ...]) -> dict[str, float | None]:
    """Bytes per sample on disk (table and index) for the same rows in each layout this database
    offers: native partitions; TimescaleDB as written and after compressing every chunk."""
    vid, ts, sig, val = data
    found: dict[str, float | None] = {
        "native_bytes_per_sample": None,
        "timescaledb_bytes_per_sample": None,
        "timescaledb_compressed_bytes_per_sample": None,
    }
    for layout in (NATIVE, TIMESCALEDB):
        schema = f"{base.database_schema}_{layout}"
        settings = base.model_copy(update={"database_schema": schema, "samples_layout": layout})
        try:
            try:
                await upgrade(settings)
            except ConfigError:
                continue  # no TimescaleDB here
            async with await connect(settings) as conn:
                await PartitionManager().ensure(conn, {day_of(int(t)) for t in np.unique(ts)})
                async with conn.transaction():
                    await writer.write(conn, writer.pivot(vid, ts, sig, val))
                size = sql.SQL(
                    "SELECT sum(pg_total_relation_size(inhrelid)) AS n FROM pg_inherits"
                    " WHERE inhparent = 'samples'::regclass"
                    if layout == NATIVE
                    else "SELECT {}('samples') AS n"
                ).format(ts_function(settings.extension_schema, "hypertable_size"))
                found[f"{layout}_bytes_per_sample"] = await _bytes(conn, size) / len(val)
                if layout == TIMESCALEDB:
                    await conn.execute(
                        sql.SQL("SELECT {}(c) FROM {}('samples') c").format(
                            ts_function(settings.extension_schema, "compress_chunk"),
                            ts_function(settings.extension_schema, "show_chunks"),
                        )
                    )
                    found["timescaledb_compressed_bytes_per_sample"] = await _bytes(conn, size) / len(val)
                await conn.commit()
        finally:
            async with await connect(settings, autocommit=True) as conn:
                await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    return found


async def _bytes(conn: Conn, query: sql.Composed) -> float:
    row = await (await conn.execute(query)).fetchone()
    return float(row["n"]) if row else math.nan


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--moments", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    args = smoke.parse(parser, vehicles=20, moments=3, repeats=1)
    settings = Settings(database_schema=smoke.schema("bench_storage"))
    await upgrade(settings)
    catalog = default_catalog()
    writer = SampleWriter(catalog)
    numeric_ids = np.array([s.id for s in writer.numeric], dtype=np.int16)
    vid, ts, sig_pos, val = fleet_data(args.vehicles, args.moments, len(numeric_ids))
    sig = numeric_ids[sig_pos]
    results: dict[str, list[float]] = {"narrow_copy": [], "wide_copy": [], "ours": []}
    async with await connect(settings) as conn:
        await PartitionManager().ensure_ahead(conn, now_ms())
        for _ in range(args.repeats):
            results["narrow_copy"].append(await narrow(conn, vid, ts, sig, val))
            ours, raw = await wide(conn, writer, vid, ts, sig, val)
            results["ours"].append(ours)
            results["wide_copy"].append(raw)
    med = {k: statistics.median(v) for k, v in results.items()}
    rest = await at_rest(settings, writer, (vid, ts, sig, val))
    print(
        f"samples per run: {len(val):,}"
        f" ({args.vehicles} vehicles x {args.moments} moments x {len(numeric_ids)} signals)"
    )
    print(f"narrow rows, unique (vehicle, signal, ts), binary COPY: {med['narrow_copy']:>12,.0f} samples/s")
    print(f"wide rows, primary key (vehicle, ts), binary COPY:      {med['wide_copy']:>12,.0f} samples/s")
    print(f"our write path (pivot + encode + COPY + merge):          {med['ours']:>12,.0f} samples/s")
    for name, value in rest.items():
        print(f"at rest, {name.replace('_', ' ')}: {'n/a' if value is None else f'{value:.1f}'}")
    print(
        json.dumps(
            {
                **{k: None if v is None else round(v, 2) for k, v in rest.items()},
                "samples": len(val),
                "narrow_copy_samples_per_s": round(med["narrow_copy"]),
                "wide_copy_samples_per_s": round(med["wide_copy"]),
                "write_path_samples_per_s": round(med["ours"]),
                "wide_over_narrow": round(med["wide_copy"] / med["narrow_copy"], 2),
                "smoke": args.smoke,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
