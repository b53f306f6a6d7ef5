"""Fleet health for OEMs: vehicles with an open incident per 1,000, by model, model year or
software version and by system, now and week by week, and the vehicles behind a number."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from oem import fleet_health
from telemetry.settings import Settings
from telemetry.storage import alerts, incidents
from telemetry.storage.db import Conn, connect
from tests.fix_services import api_client, make_key

NOW = datetime.now(UTC).replace(microsecond=0)
FLEET = [  # vin, model, software version
    ("1HGCM82633A004352", "Compact 1.5", "1.0"),
    ("1G1ZT53826F109149", "Compact 1.5", "1.0"),
    ("5YJSA1DN7CFP01657", "Compact 1.5", "2.0"),
    ("WAUZZZ8V0KA000701", "City EV", None),
]


async def incident(conn: Conn, vid: int, rule: str, system: str, at: datetime) -> int:
    firing = alerts.Firing(vid, rule, 1, "warning", rule, rule, at, at, None, {}, "threshold", system)
    alert_id = await alerts.fire(conn, firing, reopen_within=timedelta(0))
    return await incidents.attach(conn, alert_id=alert_id, reopen_within=timedelta(0))


def test_open_incidents_per_1000_vehicles_by_model_version_and_system(settings: Settings) -> None:
    async def go() -> None:
        async with api_client(settings) as admin:
            for vin, model, version in FLEET:
                powertrain = "electric" if "EV" in model else "combustion"
                body = {"vin": vin, "make": "Aurora", "model": model, "model_year": 2024,
                        "powertrain": powertrain, "software_version": version}  # fmt: skip
                assert (await admin.post("/vehicles", json=body)).status_code == 201
        async with await connect(settings) as conn:
            cur = await conn.execute("SELECT id FROM vehicles ORDER BY id")
            ids = [r["id"] for r in await cur.fetchall()]
            await incident(conn, ids[0], "coolant_overtemp", "cooling", NOW - timedelta(days=2))
            await incident(conn, ids[1], "coolant_overtemp", "cooling", NOW - timedelta(days=20))
            await incident(conn, ids[1], "tyre_low_front_left", "tyres", NOW - timedelta(days=1))
            done = await incident(conn, ids[3], "hv_battery_overtemp", "traction_battery", NOW - timedelta(days=3))
            await incidents.resolve(conn, incident_id=done, by="x", outcome="other", operation=None,  # type: ignore[arg-type]
                                    service_event_id=None, note=None)  # fmt: skip
            await conn.commit()
        async with api_client(settings, make_key(settings, "oem")) as oem:

            async def get(path: str, **params: object) -> list[dict]:
                answer: httpx.Response = await oem.get(path, params=params)
                assert answer.status_code == 200, answer.text
                return answer.json()

            by_model = {g["group"]: g for g in await get("/fleet/health")}
            compact = by_model["Compact 1.5"]
            assert (compact["vehicles"], compact["affected"], compact["per_1000"]) == (3, 2, 666.7)
            assert compact["systems"] == {
                "cooling": {"affected": 2, "per_1000": 666.7}, "tyres": {"affected": 1, "per_1000": 333.3},
            }  # fmt: skip
            assert (by_model["City EV"]["affected"], by_model["City EV"]["systems"]) == (0, {}), "resolved: not open"
            versions = {
                g["group"]: (g["vehicles"], g["affected"]) for g in await get("/fleet/health", by="software_version")
            }
            assert versions == {"1.0": (2, 2), "2.0": (1, 0), "unknown": (1, 0)}

            weekly = await get("/fleet/health/weekly", weeks=4)
            cooling = {
                w["week"]: w["affected"] for w in weekly if w["group"] == "Compact 1.5" and w["system"] == "cooling"
            }
            assert len(cooling) == 4, "the incident open for 20 days is in every week since"
            assert list(cooling.values())[-1] == 2
            ev = [w for w in weekly if w["group"] == "City EV"]
            assert ev, "open for a while before it was resolved"
            assert {w["system"] for w in ev} == {"traction_battery"}

            behind = await get("/fleet/health/vehicles", group="Compact 1.5", system="cooling")
            assert sorted(v["vin"] for v in behind) == sorted(vin for vin, *_ in FLEET[:2])
            assert all("customer" not in key for v in behind for key in v), "vehicles only, never a customer"

    asyncio.run(go())


def test_finished_weeks_are_kept_and_forgotten_exactly_when_late_data_changes_them(settings: Settings) -> None:
    """The weekly view keeps finished weeks; an incident arriving late for a past week, or a
    vehicle moving to another software version, makes the weeks it touches count again, while
    resolving an old incident now keeps every finished week as it was."""

    async def go() -> None:
        async with await connect(settings) as conn:
            ids = []
            for vin, model, version in FLEET[:3]:
                cur = await conn.execute(
                    "INSERT INTO vehicles (vin, make, model, model_year, powertrain, vss_version, software_version)"
                    " VALUES (%s, 'Aurora', %s, 2024, 'combustion', '6.0', %s) RETURNING id",
                    (vin, model, version),
                )
                ids.append((await cur.fetchone())["id"])  # type: ignore[index]
            old = await incident(conn, ids[0], "coolant_overtemp", "cooling", NOW - timedelta(weeks=5))
            await conn.commit()

            async def cooling(by: str = "model") -> list[int]:
                rows = await fleet_health.weekly(conn, by=by, weeks=8, now=NOW)
                await conn.commit()
                return [int(r["affected"]) for r in rows if r["system"] == "cooling"]

            async def kept() -> int:
                cur = await conn.execute("SELECT count(*) AS n FROM fleet_weekly_weeks WHERE grouping = 'model'")
                return int((await cur.fetchone())["n"])  # type: ignore[index]

            assert await cooling() == [1, 1, 1, 1, 1, 1]  # open since five weeks ago, this week included
            assert await kept() == 7  # the finished weeks of the span

            await incident(conn, ids[1], "coolant_overtemp", "cooling", NOW - timedelta(weeks=3))  # late data
            await conn.commit()
            assert await kept() == 7 - 3  # the three finished weeks it touches are forgotten ...
            assert await cooling() == [1, 1, 2, 2, 2, 2]  # ... and count again
            assert await kept() == 7

            await incidents.resolve(conn, incident_id=old, by="x", outcome="other", operation=None,  # type: ignore[arg-type]
                                    service_event_id=None, note=None)  # fmt: skip
            await conn.commit()
            assert await kept() == 7  # resolved now: no finished week changes
            assert await cooling() == [1, 1, 2, 2, 2, 2]

            assert await cooling("software_version") == [1, 1, 2, 2, 2, 2]
            await conn.execute("UPDATE vehicles SET software_version = '2.0' WHERE id = %s", (ids[1],))
            await conn.commit()
            rows = await fleet_health.weekly(conn, by="software_version", weeks=8, now=NOW)
            last_week = fleet_health.week_of(NOW) - timedelta(weeks=1)
            assert {(r["group"], r["affected"]) for r in rows if r["week"] == last_week} == {("1.0", 1), ("2.0", 1)}

    asyncio.run(go())
