"""Migrations and the sample store, against the real PostgreSQL."""

from __future__ import annotations

import asyncio

import numpy as np
import psycopg

from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.storage.db import connect
from telemetry.storage.migrate import MIGRATIONS, upgrade
from telemetry.storage.partitions import PartitionManager, day_of, partition_name
from telemetry.storage.samples import SampleWriter
from telemetry.timeutil import MS_PER_DAY, now_ms
from tests.fix_services import expected_layout

CATALOG = default_catalog()
SPEED = CATALOG["Vehicle.Speed"].id
RPM = CATALOG["Vehicle.Powertrain.CombustionEngine.Speed"].id


def test_migrations_applied_twice_are_a_no_op(settings: Settings) -> None:
    async def check() -> None:
        assert await upgrade(settings) == []
        async with await connect(settings) as conn:
            cur = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert [r["version"] for r in await cur.fetchall()] == [m.version for m in MIGRATIONS]
            cur = await conn.execute("SELECT key, value FROM storage_info WHERE key LIKE 'samples_layout%%'")
            stored = {r["key"]: r["value"] for r in await cur.fetchall()}
            assert stored["samples_layout"] == expected_layout()
            assert stored["samples_layout_reason"], "the reason for the layout is kept"
            cur = await conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
            if expected_layout() == "native" and await cur.fetchone():  # installed here, not preloaded
                assert stored["samples_layout_reason"].endswith("is installed but not in shared_preload_libraries")

    asyncio.run(check())


def _write(settings: Settings, vehicle: list[int], ts: list[int], signal: list[int], value: list[float]) -> int:
    async def go() -> int:
        writer = SampleWriter(CATALOG)
        rows = writer.pivot(np.array(vehicle), np.array(ts), np.array(signal, np.int16), np.array(value))
        async with await connect(settings) as conn:
            await PartitionManager().ensure(conn, {day_of(t) for t in ts})
            async with conn.transaction():
                return len(await writer.write(conn, rows))

    return asyncio.run(go())


def _rows(settings: Settings) -> list[tuple]:
    with psycopg.connect(settings.require_database_url()) as conn:
        conn.execute(f"SET search_path = {settings.database_schema}")
        return conn.execute(
            "SELECT vehicle_id, (extract(epoch FROM ts) * 1000)::bigint, speed, engine_speed FROM samples ORDER BY 1, 2"
        ).fetchall()


def test_a_redelivered_batch_is_stored_once(settings: Settings) -> None:
    t = now_ms()
    batch = ([1, 1, 2], [t, t + 1000, t], [SPEED, SPEED, SPEED], [50.0, 51.0, 10.0])
    assert _write(settings, *batch) == 3
    assert _write(settings, *batch) == 0
    assert _rows(settings) == [(1, t, 50.0, None), (1, t + 1000, 51.0, None), (2, t, 10.0, None)]


def test_two_messages_with_different_signals_of_one_moment_keep_both(settings: Settings) -> None:
    t = now_ms()
    _write(settings, [1], [t], [SPEED], [50.0])
    assert _write(settings, [1], [t], [RPM], [2100.0]) == 1
    assert _write(settings, [1], [t], [SPEED], [99.0]) == 0  # first value stays
    assert _rows(settings) == [(1, t, 50.0, 2100.0)]


def test_late_history_lands_in_a_partition_created_on_demand(settings: Settings) -> None:
    old = now_ms() - 40 * MS_PER_DAY
    _write(settings, [3], [old], [SPEED], [80.0])
    assert _rows(settings) == [(3, old, 80.0, None)]
    with psycopg.connect(settings.require_database_url()) as conn:
        conn.execute(f"SET search_path = {settings.database_schema}")
        if expected_layout() == "native":
            assert conn.execute("SELECT to_regclass(%s) IS NOT NULL", (partition_name(day_of(old)),)).fetchone()[0]
        else:
            chunks = conn.execute(
                "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = %s"
                " AND hypertable_name = 'samples' AND range_start <= to_timestamp(%s / 1000.0)"
                " AND range_end > to_timestamp(%s / 1000.0)",
                (settings.database_schema, old, old),
            ).fetchone()[0]
            assert chunks == 1
