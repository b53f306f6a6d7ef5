"""How fast a year of one signal draws: the bucket query behind the console's vehicle chart, on
native PostgreSQL and on TimescaleDB side by side.

    python -m bench.chart [--days 365] [--every-s 60] [--points 600] [--repeats 5]
                          [--layouts native,timescaledb]

For each layout, writes `--days` of one vehicle's coolant temperature, a value every `--every-s`
seconds, into a schema of its own, brings `samples_hourly` up to date, then times `read_buckets`
(what GET /vehicles/{vin}/signals/{path}/buckets runs) over the last day, the last 30 days and the
whole span, and the same whole span from raw samples (what every window read before the hourly
rollup): the median of `--repeats` runs each. Windows whose buckets are an hour or wider read
`samples_hourly`. Native runs on TELEMETRY_DATABASE_URL; TimescaleDB on TELEMETRY_TS_DATABASE_URL
(`eval "$(bash scripts/timescaledb.sh)"`), or on TELEMETRY_DATABASE_URL when that has the extension
preloaded; a layout it cannot reach is reported as skipped, with the reason.

The last line is one JSON object: the first layout's figures at the top level (as before), and
every layout's under "layouts".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql

from bench import smoke
from telemetry.catalog import default_catalog
from telemetry.errors import ConfigError
from telemetry.settings import Settings
from telemetry.storage import hourly
from telemetry.storage.db import connect
from telemetry.storage.layout import samples_layout
from telemetry.storage.migrate import upgrade
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.samples import read_buckets, read_raw_buckets
from telemetry.timeutil import to_epoch_ms

SIGNAL = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"


async def _median_ms(repeats: int, read: Any) -> tuple[float, int]:
    times, got = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        got = len(await read())
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 1), got


async def run(settings: Settings, days: int, every_s: int, points: int, repeats: int) -> dict[str, object]:
    catalog = default_catalog()
    signal = catalog[SIGNAL]
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    async with await connect(settings, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(settings.database_schema)))
    await upgrade(settings)
    try:
        async with await connect(settings) as conn:
            layout = await samples_layout(conn)
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
            loaded_s = time.perf_counter() - began
            began = time.perf_counter()
            await hourly.refresh(settings, catalog)
            rolled_s = time.perf_counter() - began
            await conn.execute("ANALYZE samples")
            await conn.execute("ANALYZE samples_hourly")
            cur = await conn.execute("SELECT count(*) AS n FROM samples")
            rows = (await cur.fetchone())["n"]  # type: ignore[index]
            figures: dict[str, object] = {
                "layout": layout, "values": rows, "load_s": round(loaded_s, 2), "rollup_s": round(rolled_s, 2),
                "points": points,
            }  # fmt: skip
            for label, window in (("1d", timedelta(days=1)), ("30d", timedelta(days=30)), ("all", end - start)):
                ms, got = await _median_ms(repeats, lambda w=window: _buckets(conn, signal, end - w, end, points))
                figures[f"{label}_ms"], figures[f"{label}_buckets"] = ms, got
                print(f"{layout:>11} window {label:>4}: {got} buckets in {ms} ms (median of {repeats})")
            width = (end - start).total_seconds() / points
            ms, got = await _median_ms(
                repeats,
                lambda: read_raw_buckets(conn, vehicle_id=1, signal=signal, start=start, end=end, width=width),
            )
            figures["all_raw_ms"] = ms
            print(f"{layout:>11} window  all from raw samples: {got} buckets in {ms} ms")
    finally:
        async with await connect(settings, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(settings.database_schema)))
    return figures


async def _buckets(conn: Any, signal: Any, start: datetime, end: datetime, points: int) -> list[dict[str, object]]:
    _, buckets = await read_buckets(conn, vehicle_id=1, signal=signal, start=start, end=end, buckets=points)
    return buckets


def _settings_for(layout: str) -> Settings | str:
    """Settings that give `layout`, or why this machine has none."""
    schema = smoke.schema("bench_chart")
    if layout == "native":
        return Settings(database_schema=schema, samples_layout="native")
    url = os.environ.get("TELEMETRY_TS_DATABASE_URL") or Settings().database_url
    if url is None:
        return "no TELEMETRY_TS_DATABASE_URL or TELEMETRY_DATABASE_URL"
    return Settings(database_url=url, database_schema=schema, samples_layout="timescaledb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--every-s", type=int, default=60)
    parser.add_argument("--points", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layouts", default="native,timescaledb")
    args = smoke.parse(parser, days=40, every_s=3600, points=50, repeats=1)
    layouts: dict[str, dict[str, object]] = {}
    for layout in args.layouts.split(","):
        settings = _settings_for(layout)
        try:
            if isinstance(settings, str):
                raise ConfigError(settings)
            layouts[layout] = asyncio.run(run(settings, args.days, args.every_s, args.points, args.repeats))
        except ConfigError as unavailable:
            if layout == "native":
                raise
            layouts[layout] = {"skipped": str(unavailable)}
            print(f"{layout}: skipped ({unavailable})")
    first = next((f for f in layouts.values() if "skipped" not in f), {})
    print(json.dumps({"bench": "chart", **first, "layouts": layouts, "smoke": args.smoke}))


if __name__ == "__main__":
    main()
