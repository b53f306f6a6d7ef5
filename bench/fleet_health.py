"""How fast the OEM's fleet-health views answer at fleet scale.

    python -m bench.fleet_health [--vehicles 100000] [--incidents-per-vehicle 3] [--repeats 5]

Writes `--vehicles` vehicles (6 models, 4 model years, 5 software versions) and about
`--incidents-per-vehicle` incidents each, spread over the past year across the systems, a few
percent of them still open, into a schema of its own; then times each view of
`oem/fleet_health.py` (now by model and by software version, 26 weeks by model, the vehicles behind
one number; the week-by-week view's first read, which computes the finished weeks, on its own),
the software versions against their models, and a year of one option's business
(`oem/option_funnel.py`): the median of `--repeats` runs each. The issue's bar: each view under 300 ms. The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from psycopg import sql

from bench import smoke
from oem import fleet_health, option_funnel, software_versions
from telemetry.settings import Settings
from telemetry.storage.db import Conn, connect
from telemetry.storage.migrate import upgrade
from telemetry.vocabulary import System

SYSTEMS = [str(s) for s in System]


async def timed(repeats: int, view: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        await view()
        times.append(time.perf_counter() - began)
    return round(statistics.median(times) * 1000, 1)


async def _after_late_incident(conn: Conn, now: datetime) -> float:
    """The weekly view's read after an incident arrived eight days late (as a car uploading its
    backlog makes one): the finished week it touches is computed again, the others are read."""
    await conn.execute(
        "INSERT INTO incidents (vehicle_id, system, state, severity, title, explanation, first_seen, last_seen)"
        " VALUES (1, 'cooling', 'open', 'warning', 'late', 'late', %s, %s)",
        (now - timedelta(days=8), now - timedelta(days=8)),
    )
    await conn.commit()
    return await timed(1, lambda: fleet_health.weekly(conn, by="model", weeks=26, now=now))


async def _option_history(conn: Conn, now: datetime) -> None:
    """A year of one option's business: a trial for one vehicle in five, a third of them converted
    to a subscription, renewals and expiries logged, offers for one vehicle in ten."""
    await conn.execute(
        "INSERT INTO features (code, name, price_model, price, currency, trial_days)"
        " VALUES ('heated_seats', 'Heated seats', 'monthly', 9.9, 'EUR', 30)"
    )
    await conn.execute(
        "INSERT INTO entitlements (vehicle_id, feature_code, kind, state, granted_by, starts_at)"
        " SELECT id, 'heated_seats', kind, 'ended', 'bench', %s::timestamptz - ((id * 13) %% 330) * interval '1 day'"
        "  + CASE kind WHEN 'trial' THEN interval '0' ELSE interval '30 days' END"
        " FROM vehicles, unnest(ARRAY['trial', 'subscription']) AS kind"
        " WHERE id %% 5 = 0 AND (kind = 'trial' OR id %% 15 = 0)",
        (now,),
    )
    await conn.execute(
        "INSERT INTO entitlement_events (entitlement_id, at, event, detail, by)"
        " SELECT id, starts_at + interval '30 days', CASE kind WHEN 'trial' THEN 'expired' ELSE 'renewed' END, '', 'b'"
        " FROM entitlements"
    )
    await conn.execute(
        "INSERT INTO offers (vehicle_id, feature_code, rule_id, state, reason, first_seen, last_seen, entitlement_id)"
        " SELECT v.id, 'heated_seats', 'cold_starts', CASE WHEN e.id IS NULL THEN 'dismissed' ELSE 'accepted' END,"
        "  'bench', COALESCE(e.starts_at, %s), COALESCE(e.starts_at, %s), e.id"
        " FROM vehicles v LEFT JOIN entitlements e ON e.vehicle_id = v.id AND e.kind = 'trial'"
        " WHERE v.id %% 10 = 0",
        (now, now),
    )
    for table in ("entitlements", "entitlement_events", "offers"):
        await conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))


async def run(vehicles: int, per_vehicle: int, repeats: int) -> dict[str, object]:
    settings = Settings(database_schema=smoke.schema("bench_fleet_health"))
    async with await connect(settings, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(settings.database_schema)))
    await upgrade(settings)
    now = datetime.now(UTC)
    try:
        async with await connect(settings) as conn:
            began = time.perf_counter()
            await conn.execute(
                "INSERT INTO vehicles (vin, make, model, model_year, powertrain, software_version)"
                " SELECT 'BENCH' || lpad(n::text, 12, '0'), 'Aurora', 'Model ' || (n %% 6),"
                " 2021 + n %% 4, 'combustion', '3.' || (n %% 5) FROM generate_series(1, %s) AS n",
                (vehicles,),
            )
            # a year of history at once: no webhook events for it (their per-vehicle locks would fill
            # the lock table in one transaction; the rule worker writes a few incidents at a time)
            await conn.execute("ALTER TABLE incidents DISABLE TRIGGER USER")
            await conn.execute(
                "INSERT INTO incidents (vehicle_id, system, state, severity, title, explanation, first_seen, last_seen,"
                " resolved_at, outcome)"
                " SELECT v.id, (%s::text[])[1 + (v.id * 7 + k) %% %s],"
                "  CASE WHEN (v.id + k) %% 25 = 0 THEN 'open' ELSE 'resolved' END,"
                "  'warning', 'bench', 'bench', t, t,"
                "  CASE WHEN (v.id + k) %% 25 = 0 THEN NULL ELSE t + interval '5 days' END,"
                "  CASE WHEN (v.id + k) %% 25 = 0 THEN NULL ELSE 'other' END"
                " FROM vehicles v, generate_series(1, %s) AS k,"
                "  LATERAL (SELECT %s::timestamptz - ((v.id * 37 + k * 101) %% 365) * interval '1 day' AS t) AS at",
                (SYSTEMS, len(SYSTEMS), per_vehicle, now),
            )
            await conn.execute("ALTER TABLE incidents ENABLE TRIGGER USER")
            await _option_history(conn, now)
            await conn.commit()
            await conn.execute("ANALYZE vehicles")
            await conn.execute("ANALYZE incidents")
            loaded = round(time.perf_counter() - began, 1)
            cur = await conn.execute(
                "SELECT count(*) AS n, count(*) FILTER (WHERE state = 'open') AS open FROM incidents"
            )
            counts = await cur.fetchone()
            assert counts is not None
            figures: dict[str, object] = {
                "vehicles": vehicles, "incidents": counts["n"], "open_incidents": counts["open"], "load_s": loaded,
                "by_model_ms": await timed(repeats, lambda: fleet_health.current(conn, by="model")),
                "by_software_version_ms": await timed(
                    repeats, lambda: fleet_health.current(conn, by="software_version")
                ),
                # the first read computes the 25 finished weeks and keeps them; the next ones read them
                "weekly_26_by_model_first_read_ms": await timed(
                    1, lambda: fleet_health.weekly(conn, by="model", weeks=26, now=now)
                ),
                "weekly_26_by_model_ms": await timed(
                    repeats, lambda: fleet_health.weekly(conn, by="model", weeks=26, now=now)
                ),
                "weekly_26_after_a_late_incident_ms": await _after_late_incident(conn, now),
                "vehicles_behind_ms": await timed(
                    repeats,
                    lambda: fleet_health.vehicles(conn, by="model", group="Model 1", system="cooling", limit=200),
                ),
                "software_versions_ms": await timed(repeats, lambda: software_versions.by_model(conn)),
                "option_funnel_12_months_ms": await timed(
                    repeats, lambda: option_funnel.monthly(conn, months=12, now=now)
                ),
            }  # fmt: skip
            for key, value in figures.items():
                print(f"{key}: {value}")
    finally:
        async with await connect(settings, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(settings.database_schema)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=100_000)
    parser.add_argument("--incidents-per-vehicle", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = smoke.parse(parser, vehicles=200, incidents_per_vehicle=2, repeats=1)
    figures = asyncio.run(run(args.vehicles, args.incidents_per_vehicle, args.repeats))
    print(json.dumps({"bench": "fleet_health", **figures, "smoke": args.smoke}))


if __name__ == "__main__":
    main()
