"""A dealer's alert queue: the order an advisor works in, assignment, notes, and scoping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from telemetry.settings import Settings
from telemetry.storage import alerts
from telemetry.storage.db import connect
from tests.fix_services import api_client, make_key

NOW = datetime.now(UTC).replace(microsecond=0)
VINS = {"north": ("WA1NNNNNNNNNNNNN1", "WA1NNNNNNNNNNNNN2", "WA1NNNNNNNNNNNNN3"), "south": ("WA1SSSSSSSSSSSSS1",)}


async def seed(http: httpx.AsyncClient, settings: Settings) -> dict[str, int]:
    """North has a week-old info alert, a fresh critical one and a warning whose trend projects
    pads at the limit in 3 days; south has one critical alert."""
    ids: dict[str, int] = {}
    for dealer, vins in VINS.items():
        d = (await http.post("/dealers", json={"code": dealer, "name": dealer})).json()["id"]
        ids[dealer] = d
        owner = (await http.post("/customers", json={"name": f"Owner {dealer}", "dealer_id": d})).json()["id"]
        for vin in vins:
            vehicle = {"vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2024,
                       "powertrain": "combustion", "dealer_id": d, "owner_customer_id": owner}  # fmt: skip
            assert (await http.post("/vehicles", json=vehicle)).status_code == 201
    plan = [
        ("WA1NNNNNNNNNNNNN1", "maintenance_plan", "info", NOW - timedelta(days=7), {}),
        ("WA1NNNNNNNNNNNNN2", "coolant_overtemp", "critical", NOW - timedelta(hours=1), {}),
        ("WA1NNNNNNNNNNNNN3", "brake_pads_front_left", "warning", NOW - timedelta(days=2),
         {"projected": (NOW + timedelta(days=3)).isoformat()}),
        ("WA1SSSSSSSSSSSSS1", "coolant_overtemp", "critical", NOW - timedelta(hours=2), {}),
    ]  # fmt: skip
    async with await connect(settings) as conn:
        for vin, rule, severity, at, evidence in plan:
            cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
            vid = (await cur.fetchone())["id"]
            firing = alerts.Firing(
                vid, rule, 1, severity, rule, f"{rule} on {vin}", at, at, None, evidence, "threshold"
            )
            ids[vin] = await alerts.fire(conn, firing, reopen_within=timedelta(hours=1))
        await conn.commit()
    return ids


def test_the_queue_orders_by_severity_due_date_or_age_and_keeps_to_its_dealer(settings: Settings) -> None:
    async def go() -> None:
        async with api_client(settings) as admin:
            ids = await seed(admin, settings)
            north = ids["north"]

            async def order(sort: str) -> list[str]:
                got = await admin.get(f"/dealers/{north}/alerts", params={"sort": sort})
                assert got.status_code == 200, got.text
                return [a["vin"][-1] for a in got.json()]

            assert await order("severity") == ["2", "3", "1"]
            assert await order("due") == ["2", "3", "1"]  # critical: a day; pads: 3 days; info: 30 days
            assert await order("age") == ["1", "3", "2"]
            [pads] = [a for a in (await admin.get(f"/dealers/{north}/alerts")).json() if a["vin"].endswith("3")]
            assert pads["due_at"].startswith((NOW + timedelta(days=3)).date().isoformat())
            assert pads["customer_name"] == "Owner north"

            alert = ids["WA1NNNNNNNNNNNNN2"]
            assigned = await admin.post(f"/alerts/{alert}/assign", json={"to": "Petra"})
            assert (assigned.json()["assigned_to"], assigned.status_code) == ("Petra", 200)
            mine = (await admin.get(f"/dealers/{north}/alerts", params={"assigned_to": "Petra"})).json()
            assert [a["id"] for a in mine] == [alert]
            for text in ("called, no answer", "booked for Tuesday"):
                note = await admin.post(f"/alerts/{alert}/notes", json={"author": "Petra", "text": text})
                assert note.status_code == 201
            notes = (await admin.get(f"/alerts/{alert}/notes")).json()
            assert [n["text"] for n in notes] == ["called, no answer", "booked for Tuesday"]

        async with api_client(settings, make_key(settings, "advisor", ids["south"])) as south:
            assert (await south.get(f"/dealers/{north}/alerts")).status_code == 404
            assert (await south.post(f"/alerts/{alert}/notes", json={"author": "x", "text": "y"})).status_code == 404
            assert (await south.post(f"/alerts/{alert}/assign", json={"to": "x"})).status_code == 404
            own = (await south.get(f"/dealers/{ids['south']}/alerts")).json()
            assert [a["vin"] for a in own] == ["WA1SSSSSSSSSSSSS1"]

    asyncio.run(go())
