"""Storage layouts compared on this machine: narrow rows vs wide rows, and our full write path.

    python -m bench.storage_layout [--vehicles 2000] [--moments 25] [--repeats 3]

Each figure is the median of `--repeats` runs, in samples per second, over the same generated
fleet data (vehicles x moments x the catalog's numeric signals, arriving in time order). The
last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import numpy as np
from psycopg import sql

from bench import smoke
from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.storage.db import Conn, connect
from telemetry.storage.migrate import upgrade
from telemetry.storage.partitions import PartitionManager
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
    print(
        f"samples per run: {len(val):,}"
        f" ({args.vehicles} vehicles x {args.moments} moments x {len(numeric_ids)} signals)"
    )
    print(f"narrow rows, unique (vehicle, signal, ts), binary COPY: {med['narrow_copy']:>12,.0f} samples/s")
    print(f"wide rows, primary key (vehicle, ts), binary COPY:      {med['wide_copy']:>12,.0f} samples/s")
    print(f"our write path (pivot + encode + COPY + merge):          {med['ours']:>12,.0f} samples/s")
    print(
        json.dumps(
            {
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
