"""Retention drops whole old days, after exporting them to Parquet; recent days stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.storage.db import connect, connect_sync
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.retention import run_retention
from telemetry.storage.samples import SampleWriter
from telemetry.timeutil import MS_PER_DAY
from tests.fix_services import add_vehicle

CATALOG = default_catalog()
VIN = "1HGCM82633A004352"


def seed(settings: Settings, stamps: list[int]) -> None:
    async def go() -> None:
        writer = SampleWriter(CATALOG)
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, VIN)
            await PartitionManager().ensure(conn, {day_of(t) for t in stamps})
            speed = CATALOG["Vehicle.Speed"].id
            rows = writer.pivot(
                np.full(len(stamps), vid),
                np.array(stamps),
                np.full(len(stamps), speed, np.int16),
                np.arange(len(stamps), dtype=float),
            )
            rows.dtc.append((vid, stamps[0], ("P0217",)))
            async with conn.transaction():
                await writer.write(conn, rows)

    asyncio.run(go())


def test_old_days_are_exported_then_dropped(settings: Settings, tmp_path: Path) -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    now_ms = int(now.timestamp() * 1000)
    old = now_ms - 400 * MS_PER_DAY
    seed(settings, [old, old + 1000, now_ms - 3 * MS_PER_DAY])
    settings = settings.model_copy(update={"retention_days": 365, "retention_export_dir": tmp_path})

    dropped = run_retention(settings, now=now)

    old_day = (now - timedelta(days=400)).date()
    assert dropped == [old_day]
    table = pq.read_table(tmp_path / f"samples-{old_day}.parquet")
    assert table.column("vin").to_pylist() == [VIN, VIN]
    assert table.column("Vehicle.Speed").to_pylist() == [0.0, 1.0]
    assert table.column("Vehicle.Diagnostics.DTCList").to_pylist() == [["P0217"], None]
    assert table.schema.field("Vehicle.Speed").metadata[b"unit"] == b"km/h"
    with connect_sync(settings) as conn:
        left = conn.execute("SELECT count(*) AS n FROM samples").fetchone()["n"]
    assert left == 1
    assert run_retention(settings, now=now) == []


def test_only_days_that_hold_samples_are_exported_and_every_dropped_day_is_reported(
    settings: Settings, tmp_path: Path
) -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    now_ms = int(now.timestamp() * 1000)
    old = now_ms - 400 * MS_PER_DAY
    seed(settings, [old, now_ms - 3 * MS_PER_DAY])
    empty_day = old - 2 * MS_PER_DAY  # a day partition (native) that never got a sample

    async def make_empty_partition() -> None:
        async with await connect(settings) as conn:
            await PartitionManager().ensure(conn, {day_of(empty_day)})

    asyncio.run(make_empty_partition())
    settings = settings.model_copy(update={"retention_days": 365, "retention_export_dir": tmp_path})

    dropped = run_retention(settings, now=now)

    old_day = (now - timedelta(days=400)).date()
    assert old_day in dropped
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"samples-{old_day}.parquet"]
