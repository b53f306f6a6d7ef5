"""Long chart windows come from `samples_hourly` and give what the raw samples give; a late sample
for an hour already rolled up shows at once; retention expires the rollup with the samples."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from psycopg import sql

from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.storage import hourly
from telemetry.storage.db import connect, connect_sync
from telemetry.storage.layout import NATIVE, table_columns
from telemetry.storage.migrate import upgrade
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.retention import run_retention
from telemetry.storage.samples import SampleWriter, read_buckets, read_raw_buckets
from tests.fix_services import add_vehicle, expected_layout

CATALOG = default_catalog()
COOLANT = CATALOG["Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"]
VIN = "1HGCM82633A004352"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
HOUR_MS = 3_600_000


async def write(settings: Settings, vid: int, stamps: list[int], values: list[float]) -> None:
    writer = SampleWriter(CATALOG, mark_hours=expected_layout() == NATIVE)
    async with await connect(settings) as conn:
        await PartitionManager().ensure(conn, {day_of(t) for t in stamps})
        rows = writer.pivot(
            np.full(len(stamps), vid), np.array(stamps), np.full(len(stamps), COOLANT.id, np.int16), np.array(values)
        )
        async with conn.transaction():
            await writer.write(conn, rows)


async def buckets(settings: Settings, vid: int, days: int) -> list[tuple[datetime, float, float, float, int]]:
    async with await connect(settings) as conn:
        _, got = await read_buckets(
            conn, vehicle_id=vid, signal=COOLANT, start=NOW - timedelta(days=days), end=NOW, buckets=600
        )
    return [(b["ts"], b["min"], b["max"], round(b["mean"], 9), b["n"]) for b in got]  # type: ignore[misc, call-overload]


async def roll_up(settings: Settings) -> None:
    if expected_layout() == NATIVE:
        async with await connect(settings) as conn:
            await hourly.roll_up_all(conn, CATALOG, now=NOW)
    else:
        await hourly.refresh(settings, CATALOG)


def test_a_long_window_reads_hours_and_matches_the_raw_samples(settings: Settings) -> None:
    async def go() -> None:
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, VIN)
        now_ms = int(NOW.timestamp() * 1000)
        stamps = [now_ms - 40 * 24 * HOUR_MS + i * 600_000 for i in range(40 * 24 * 6)]  # every 10 min, 40 days
        values = [80.0 + (i % 37) for i in range(len(stamps))]
        await write(settings, vid, stamps, values)

        before = await buckets(settings, vid, 60)  # 60 days / 600 points: 3-hour buckets, whole hours
        await roll_up(settings)
        after = await buckets(settings, vid, 60)
        assert after == before
        assert len(after) == 40 * 8
        assert after[0][0] - (NOW - timedelta(days=40)) == timedelta(hours=1.5), "centred in a 3-hour bucket"
        async with await connect(settings) as conn:
            width = 3 * 3600
            start = NOW - timedelta(days=60)
            raw = await read_raw_buckets(conn, vehicle_id=vid, signal=COOLANT, start=start, end=NOW, width=width)
            materialized = await conn.execute("SELECT count(*) AS n FROM samples_hourly WHERE vehicle_id = %s", (vid,))
            assert (await materialized.fetchone())["n"] == 40 * 24  # type: ignore[index]
        assert [(b[1], b[2], b[4]) for b in after] == [(r["min"], r["max"], r["n"]) for r in raw]
        assert [b[3] for b in after] == pytest.approx([r["mean"] for r in raw])

        late = now_ms - 10 * 24 * HOUR_MS + 1  # an hour already rolled up
        await write(settings, vid, [late], [150.0])
        peak = max(b[2] for b in await buckets(settings, vid, 60))
        if expected_layout() == NATIVE:
            assert peak == 150.0, "a pending hour is read from the raw samples until it rolls up again"
        await roll_up(settings)
        assert max(b[2] for b in await buckets(settings, vid, 60)) == 150.0

    asyncio.run(go())


def test_retention_expires_the_hourly_rollup_with_the_samples(settings: Settings) -> None:
    async def go() -> int:
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, VIN)
        now_ms = int(NOW.timestamp() * 1000)
        days = [400, 367, 363, 3]  # 367 and 363 days ago share an aggregate chunk on TimescaleDB (10 days)
        await write(settings, vid, [now_ms - d * 24 * HOUR_MS for d in days], [90.0, 91.0, 92.0, 93.0])
        await roll_up(settings)
        return vid

    asyncio.run(go())
    run_retention(settings.model_copy(update={"retention_days": 365}), now=NOW)
    with connect_sync(settings) as conn:
        hours = conn.execute("SELECT bucket FROM samples_hourly ORDER BY bucket").fetchall()
        assert [h["bucket"] for h in hours] == [NOW - timedelta(days=363), NOW - timedelta(days=3)]
        if expected_layout() == NATIVE:
            assert conn.execute("SELECT count(*) AS n FROM samples_hourly_pending").fetchone()["n"] == 0


def test_a_database_made_before_a_signal_was_added_gets_its_columns_and_charts_it(settings: Settings) -> None:
    """Migration 21 on a database of the 41 signals before it: samples and the hourly rollup get the
    new columns (TimescaleDB: the continuous aggregate is made anew), and the new signal charts."""
    maf = CATALOG["Vehicle.Powertrain.CombustionEngine.MAF"]
    old = replace(CATALOG, signals=CATALOG.signals[:41])
    added = [s.column for s in CATALOG.signals[41:]]

    async def go() -> None:
        async with await connect(settings) as conn, conn.transaction():  # back to the database of before
            if expected_layout() == NATIVE:
                await conn.execute("DROP TABLE samples_hourly, samples_hourly_pending")
            else:
                await conn.execute("DROP MATERIALIZED VIEW samples_hourly")
            await conn.execute(sql.SQL("ALTER TABLE samples {}").format(
                sql.SQL(", ").join(sql.SQL("DROP COLUMN {}").format(sql.Identifier(c)) for c in added)))  # fmt: skip
            await hourly.create(conn, old, settings)
            await conn.execute("ALTER TABLE vehicles DROP COLUMN dropped_samples")
            await conn.execute("DELETE FROM schema_migrations WHERE version = 21")
        assert await upgrade(settings) == [21]
        async with await connect(settings) as conn:
            assert set(added) <= await table_columns(conn, "samples")
            assert {"mass_air_flow_n", "mil_on_max"} <= await table_columns(conn, "samples_hourly")
            vid = await add_vehicle(conn, VIN)
        now_ms = int(NOW.timestamp() * 1000)
        stamps = [now_ms - 3 * 24 * HOUR_MS + i * 600_000 for i in range(2 * 24 * 6)]
        writer = SampleWriter(CATALOG, mark_hours=expected_layout() == NATIVE)
        async with await connect(settings) as conn:
            await PartitionManager().ensure(conn, {day_of(t) for t in stamps})
            rows = writer.pivot(np.full(len(stamps), vid), np.array(stamps), np.full(len(stamps), maf.id, np.int16),
                                np.full(len(stamps), 12.5))  # fmt: skip
            async with conn.transaction():
                await writer.write(conn, rows)
        await roll_up(settings)
        async with await connect(settings) as conn:
            _, got = await read_buckets(
                conn, vehicle_id=vid, signal=maf, start=NOW - timedelta(days=4), end=NOW, buckets=96
            )
        assert sum(b["n"] for b in got) == len(stamps)  # type: ignore[misc]
        assert {b["mean"] for b in got} == {12.5}

    asyncio.run(go())
