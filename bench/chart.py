"""How fast a year of one signal draws: the bucket query behind the console's vehicle chart.

    python -m bench.chart [--days 365] [--every-s 60] [--points 600] [--repeats 5]

Writes `--days` of one vehicle's coolant temperature, a value every `--every-s` seconds, into a
schema of its own (the samples layout in use: TimescaleDB or native daily partitions), then times
`read_buckets` (what GET /vehicles/{vin}/signals/{path}/buckets runs) over the last day, the last
30 days and the whole span: the median of `--repeats` runs each. The browser gets at most
`--points` buckets whatever the window. The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

from psycopg import sql

from bench import smoke
from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.storage.db import connect
from telemetry.storage.migrate import upgrade
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.samples import read_buckets
from telemetry.timeutil import to_epoch_ms

SIGNAL = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"


async def run(days: int, every_s: int, points: int, repeats: int) -> dict[str, object]:
    settings = Settings(database_schema=smoke.schema("bench_chart"))
    signal = default_catalog()[SIGNAL]
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    async with await connect(settings, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(settings.database_schema)))
    await upgrade(settings)
    async with await connect(settings) as conn:
        span = range(day_of(to_epoch_ms(start)), day_of(to_epoch_ms(end)) + 1)
        await PartitionManager().ensure(conn, set(span))
        began = time.perf_counter()
        await conn.execute(
            sql.SQL(
                "INSERT INTO samples (vehicle_id, ts, {c}) SELECT 1, t,"
                " 88 + 6 * sin(extract(epoch FROM t) / 3600) + random() * 4"
                " FROM generate_series(%s::timestamptz, %s::timestamptz, make_interval(secs => %s)) AS t"
            ).format(c=sql.Identifier(signal.column)),
            (start, end - timedelta(seconds=every_s), every_s),
        )
        await conn.commit()
        await conn.execute("ANALYZE samples")
        loaded_s = time.perf_counter() - began
        cur = await conn.execute("SELECT count(*) AS n FROM samples")
        rows = (await cur.fetchone())["n"]  # type: ignore[index]
        figures: dict[str, object] = {"values": rows, "load_s": round(loaded_s, 2), "points": points}
        for label, window in (("1d", timedelta(days=1)), ("30d", timedelta(days=30)), ("all", end - start)):
            times, got = [], 0
            for _ in range(repeats):
                t0 = time.perf_counter()
                _, buckets = await read_buckets(
                    conn, vehicle_id=1, signal=signal, start=end - window, end=end, buckets=points
                )
                times.append(time.perf_counter() - t0)
                got = len(buckets)
            figures[f"{label}_ms"] = round(statistics.median(times) * 1000, 1)
            figures[f"{label}_buckets"] = got
            print(f"window {label:>4}: {got} buckets in {figures[f'{label}_ms']} ms (median of {repeats})")
    async with await connect(settings, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(settings.database_schema)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--every-s", type=int, default=60)
    parser.add_argument("--points", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    args = smoke.parse(parser, days=2, every_s=600, points=50, repeats=1)
    figures = asyncio.run(run(args.days, args.every_s, args.points, args.repeats))
    print(json.dumps({"bench": "chart", **figures, "smoke": args.smoke}))


if __name__ == "__main__":
    main()
