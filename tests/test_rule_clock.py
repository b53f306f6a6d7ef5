"""Rules that watch the clock, in the live rule worker: a silent vehicle, a service coming due and
being done (recorded through the API), a warning that lasts."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import numpy as np

from crm import records
from rules.definitions import load_rules
from rules.worker import RuleWorker
from telemetry.catalog import default_catalog
from telemetry.rulebatch import RuleBatch
from telemetry.settings import Settings
from telemetry.storage.db import connect
from telemetry.timeutil import to_epoch_ms
from tests.fix_services import api_client

CATALOG = default_catalog()
DAY = 86_400_000
DELIVERED = date(2025, 1, 10)
T0 = to_epoch_ms(datetime(2025, 11, 1, tzinfo=UTC))  # 295 days after delivery
RULES = """
[[rule]]
id = "silent"
kind = "stale"
after = "48h"

[[rule]]
id = "service"
kind = "service_plan"
due_soon_km = 1000
due_soon_days = 30
plans = { default = { km = 15000, months = 12 } }
"""


def odometer(vehicle_id: int, ts: int, km: float) -> RuleBatch:
    return RuleBatch(
        np.array([vehicle_id], np.int32),
        np.array([ts], np.int64),
        np.array([CATALOG["Vehicle.TraveledDistance"].id], np.int16),
        np.array([km * 1000]),
    )


def test_silence_and_the_maintenance_plan_follow_the_clock_and_the_service_history(
    settings: Settings, tmp_path
) -> None:
    (tmp_path / "clock.toml").write_text(RULES)
    settings = settings.model_copy(update={"rules_dir": tmp_path})

    async def alerts() -> list[tuple[str, str, str]]:
        """What everyone else sees: read on a connection of its own, so that an alert the worker
        wrote but did not commit does not count."""
        async with await connect(settings) as reader:
            cur = await reader.execute("SELECT rule_id, severity, state FROM alerts ORDER BY id")
            return [(r["rule_id"], r["severity"], r["state"]) for r in await cur.fetchall()]

    async def scenario() -> None:
        async with await connect(settings, autocommit=True) as conn, api_client(settings) as api:
            row = await records.create_vehicle(
                conn,
                vin="1HGCM82633A004352",
                make="Aurora",
                model="Compact 1.5",
                model_year=2024,
                powertrain="combustion",
                owner_customer_id=None,
                dealer_id=None,
                vss_version="6.0",
                delivered_on=DELIVERED,
            )
            await conn.commit()
            vid = row.id
            # the worker on its own connection, as it runs: what it writes must be committed
            worker = RuleWorker(settings, rules=load_rules(CATALOG, tmp_path))
            await worker.with_database(worker.load_fleet)
            await worker.with_database(lambda c: worker.apply(c, odometer(vid, T0, 9_000.0), arrived_ms=T0))
            assert await alerts() == []  # 9,000 km and 295 days: neither due
            await worker.with_database(lambda c: worker.tick(c, T0 + DAY))
            assert await alerts() == []
            await worker.with_database(lambda c: worker.tick(c, T0 + 3 * DAY))  # silent for 3 days
            assert await alerts() == [("silent", "warning", "open")]
            await worker.with_database(
                lambda c: worker.tick(c, T0 + 41 * DAY)
            )  # 336 days since delivery: within 30 days of 12 months
            assert await alerts() == [("silent", "warning", "open"), ("service", "warning", "open")]

            # a restarted worker knows the vehicle before it says anything, and fires nothing again
            await worker.with_database(worker.checkpoint)
            await worker.close()
            worker = RuleWorker(settings, rules=load_rules(CATALOG, tmp_path))
            await worker.with_database(worker.load_fleet)
            await worker.with_database(lambda c: worker.tick(c, T0 + 42 * DAY))
            assert len(await alerts()) == 2

            done = await api.post(
                "/vehicles/1HGCM82633A004352/services",
                json={"performed_at": "2025-12-13T09:00:00+01:00", "odometer_km": 9_100, "description": "annual"},
            )
            assert done.status_code == 201
            await worker.with_database(lambda c: worker.tick(c, T0 + 43 * DAY))
            await worker.with_database(
                lambda c: worker.apply(c, odometer(vid, T0 + 43 * DAY, 9_150.0), arrived_ms=T0 + 43 * DAY)
            )
            assert await alerts() == [("silent", "warning", "cleared"), ("service", "warning", "cleared")]
            await worker.close()
            history = (await api.get("/vehicles/1HGCM82633A004352/services")).json()
            assert [(h["kind"], h["odometer_km"], h["description"]) for h in history] == [
                ("scheduled", 9100.0, "annual")
            ]

    asyncio.run(asyncio.wait_for(scenario(), 60))  # a worker holding a transaction open would block the API


def test_a_service_without_a_time_zone_is_refused(settings: Settings) -> None:
    async def scenario() -> int:
        async with api_client(settings) as api:
            answer = await api.post(
                "/vehicles/1HGCM82633A004352/services", json={"performed_at": "2025-12-13T09:00:00", "odometer_km": 1}
            )
            return answer.status_code

    assert asyncio.run(scenario()) == 422
