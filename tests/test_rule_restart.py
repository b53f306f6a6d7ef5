"""A restarted rule worker resumes exactly: durations in progress carry over, nothing fires twice."""

from __future__ import annotations

import asyncio

import numpy as np

from rules.worker import RuleWorker
from telemetry.catalog import default_catalog
from telemetry.rulebatch import RuleBatch
from telemetry.settings import Settings
from telemetry.storage.db import connect
from tests.fix_services import add_vehicle

CATALOG = default_catalog()
COOLANT = CATALOG["Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"].id
T0 = 1_763_800_000_000


def hot(vehicle_id: int, first_s: int, last_s: int) -> RuleBatch:
    seconds = np.arange(first_s, last_s + 1)
    return RuleBatch(
        np.full(len(seconds), vehicle_id, np.int32),
        T0 + seconds * 1000,
        np.full(len(seconds), COOLANT, np.int16),
        np.full(len(seconds), 118.0),
    )


def test_restarts_carry_durations_over_and_replays_fire_nothing(settings: Settings) -> None:
    async def scenario() -> list[tuple[str, int]]:
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, "1HGCM82633A004352")

            async def alerts() -> list[tuple[str, int]]:
                cur = await conn.execute("SELECT state, occurrences FROM alerts ORDER BY id")
                rows = [(r["state"], r["occurrences"]) for r in await cur.fetchall()]
                await conn.commit()
                return rows

            first = RuleWorker(settings)
            await first.apply(conn, hot(vid, 0, 20))  # 20 s hot: below the 30 s minimum
            await first.checkpoint(conn)
            assert await alerts() == []
            second = RuleWorker(settings)  # restarted: the 20 s carry over
            await second.load_fleet(conn)
            await second.apply(conn, hot(vid, 21, 35))
            assert await alerts() == [("open", 1)]
            # it dies before its next checkpoint: the broker redelivers what came since the last one
            third = RuleWorker(settings)
            await third.load_fleet(conn)
            await third.apply(conn, hot(vid, 21, 35))  # replayed: fires again in memory, not in the database
            await third.apply(conn, hot(vid, 36, 60))  # still hot: the same alert, no re-fire
            await third.checkpoint(conn)
            fourth = RuleWorker(settings)
            await fourth.load_fleet(conn)
            await fourth.apply(conn, hot(vid, 21, 60))  # an old delivery again, after the checkpoint
            return await alerts()

    assert asyncio.run(scenario()) == [("open", 1)]
