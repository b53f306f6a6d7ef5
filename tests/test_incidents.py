"""Alerts of one vehicle and system form one incident; it is worked once, its outcome recorded
(by an advisor or by a repair visit from the DMS), and the outcomes give each rule's precision."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx

from telemetry.settings import Settings
from telemetry.storage import alerts, incidents
from telemetry.storage.db import Conn, connect
from telemetry.vocabulary import IncidentOutcome
from tests.fix_services import add_vehicle, api_client

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = (NOW - timedelta(days=10)).replace(hour=12, minute=0, second=0)  # DMS dates are taken at 12:00 UTC
HOUR = timedelta(hours=1)
COOLING = [  # (rule, kind, severity, title): what an overheating car raises within a minute
    ("dtc.P0217", "dtc", "critical", "P0217: Engine coolant over temperature condition"),
    ("coolant_overtemp", "threshold", "critical", "Engine coolant over-temperature"),
    (
        "coolant_hotter_than_expected",
        "threshold",
        "warning",
        "Engine runs hotter than its load and the weather explain",
    ),
]


async def raise_alert(
    conn: Conn, vid: int, rule: tuple[str, str, str, str], at: datetime, system: str = "cooling", component: str = ""
) -> int:
    rule_id, kind, severity, title = rule
    firing = alerts.Firing(
        vid, rule_id, 1, severity, title, f"{title} at {at:%H:%M}", at, at, None, {}, kind, system, component
    )
    alert_id = await alerts.fire(conn, firing, reopen_within=HOUR)
    await incidents.attach(conn, alert_id=alert_id, reopen_within=HOUR)
    return alert_id


async def incident_rows(conn: Conn, vid: int) -> list[dict]:
    cur = await conn.execute(
        "SELECT id, system, component, state, severity, title, explanation, reopened FROM incidents"
        " WHERE vehicle_id = %s ORDER BY id",
        (vid,),
    )
    return list(await cur.fetchall())


def test_alerts_of_one_system_form_one_incident_named_after_the_likely_cause(settings: Settings) -> None:
    async def go() -> None:
        async with await connect(settings) as conn:
            car, other = await add_vehicle(conn, "1HGCM82633A004352"), await add_vehicle(conn, "1G1ZT53826F109149")
            for i, rule in enumerate(reversed(COOLING)):  # the residual rule first, the DTC last
                await raise_alert(conn, car, rule, T0 + timedelta(seconds=20 * i))
            await raise_alert(conn, other, COOLING[1], T0)
            tyre = ("tyre_low_front_left", "threshold", "warning", "Front left tyre pressure low")
            await raise_alert(conn, car, tyre, T0, "tyres", "front left")
            right = ("tyre_low_front_right", "threshold", "warning", "Front right tyre pressure low")
            await raise_alert(conn, car, right, T0, "tyres", "front right")
            await conn.commit()

            rows = await incident_rows(conn, car)
            assert [(r["system"], r["component"], r["severity"]) for r in rows] == [
                ("cooling", "", "critical"), ("tyres", "front left", "warning"), ("tyres", "front right", "warning"),
            ]  # fmt: skip
            cooling = rows[0]
            assert cooling["title"] == "Cooling system: P0217: Engine coolant over temperature condition"
            assert cooling["explanation"].startswith("Likely cause: P0217")
            assert all(title in cooling["explanation"] for *_, title in COOLING), "every alert is evidence"
            assert len(await incident_rows(conn, other)) == 1, "another vehicle's alert is its own incident"

            for rule_id, *_ in COOLING:  # the car cools down
                cleared = await alerts.clear(conn, alerts.Clearing(car, rule_id, T0 + timedelta(minutes=10)))
                assert cleared is not None
                await incidents.alert_closed(conn, alert_id=cleared, at=T0 + timedelta(minutes=10))
            assert (await incident_rows(conn, car))[0]["state"] == "cleared"
            await raise_alert(conn, car, COOLING[1], T0 + timedelta(minutes=40))  # overheats again soon after
            again = (await incident_rows(conn, car))[0]
            assert (again["id"], again["state"], again["reopened"]) == (cooling["id"], "open", 1)

    asyncio.run(go())


def csv(vin: str, day: datetime, kind: str, operations: str, invoice: str) -> str:
    header = "vin,date,odometer_km,invoice_number,kind,operations"
    return f"{header}\n{vin},{day:%Y-%m-%d},12000,{invoice},{kind},{operations}\n"


def test_outcomes_from_advisors_and_the_dms_give_each_rules_field_precision(settings: Settings) -> None:
    vins = ["1HGCM82633A004352", "1G1ZT53826F109149", "5YJSA1DN7CFP01657"]

    async def go() -> None:
        async with api_client(settings) as api:

            async def ok(response: httpx.Response, status: int = 200) -> dict:
                assert response.status_code == status, response.text
                return response.json()

            dealer = await ok(await api.post("/dealers", json={"code": "D1", "name": "Dealer"}), 201)
            for vin in vins:
                await ok(await api.post("/vehicles", json={
                    "vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2024,
                    "powertrain": "combustion", "dealer_id": dealer["id"]}), 201)  # fmt: skip
            async with await connect(settings) as conn:
                cur = await conn.execute("SELECT id FROM vehicles ORDER BY id")
                ids = [r["id"] for r in await cur.fetchall()]
                await raise_alert(conn, ids[0], COOLING[0], T0)
                await raise_alert(conn, ids[0], COOLING[1], T0)
                await raise_alert(conn, ids[1], COOLING[1], T0)
                await raise_alert(conn, ids[2], COOLING[1], T0)
                await conn.commit()
            queue = await ok(await api.get(f"/dealers/{dealer['id']}/incidents"))
            assert sorted(q["alert_count"] for q in queue) == [1, 1, 2], "one row per problem, not per alert"
            one, two, three = [(await ok(await api.get(f"/vehicles/{vin}/incidents")))[0]["id"] for vin in vins]

            taken = await ok(await api.post(f"/incidents/{one}/acknowledge", json={"by": "ann"}))
            assert taken["state"] == "acknowledged"
            detail = await ok(await api.get(f"/incidents/{one}"))
            assert [a["state"] for a in detail["alerts"]] == ["acknowledged", "acknowledged"]

            refused = await api.post(f"/incidents/{two}/resolve", json={"by": "ann", "outcome": "repaired"})
            assert refused.status_code == 422
            assert "operation" in refused.text
            nff = await ok(await api.post(f"/incidents/{two}/resolve", json={"by": "ann", "outcome": "no_fault_found"}))
            assert (nff["state"], nff["service_event_id"]) == ("resolved", None)
            again = await api.post(f"/incidents/{two}/resolve", json={"by": "ann", "outcome": "other"})
            assert again.status_code == 409, "resolved once"

            repair_day = T0 + timedelta(days=3)  # the DMS reports the repair: the incident closes itself
            imported = await ok(await api.post(
                f"/dealers/{dealer['id']}/services/import", headers={"Content-Type": "text/csv"},
                content=csv(vins[0], repair_day, "repair", "Replaced thermostat|Coolant flush", "R-1")))  # fmt: skip
            assert imported["imported"] == 1
            closed = await ok(await api.get(f"/incidents/{one}"))
            assert (closed["state"], closed["outcome"], closed["resolved_by"]) == ("resolved", "repaired", "dms import")
            assert closed["operation"] == "Replaced thermostat; Coolant flush"
            assert closed["service_event_id"] is not None
            assert {a["state"] for a in closed["alerts"]} == {"resolved"}

            visit = await ok(await api.post(f"/vehicles/{vins[2]}/services", json={
                "performed_at": (T0 + timedelta(days=5)).isoformat(), "odometer_km": 9000, "kind": "scheduled",
                "invoice_number": "S-3"}), 201)  # fmt: skip
            assert (await ok(await api.get(f"/incidents/{three}")))["state"] == "open", "a service is not a repair"
            foreign = await ok(await api.get(f"/vehicles/{vins[0]}/services"))
            body = {"by": "ann", "outcome": "repaired", "operation": "x", "service_event_id": foreign[0]["id"]}
            wrong = await api.post(f"/incidents/{three}/resolve", json=body)
            assert wrong.status_code == 404, "another vehicle's visit is not this incident's"
            fixed = await ok(await api.post(f"/incidents/{three}/resolve", json={
                "by": "ann", "outcome": "repaired", "operation": "replaced radiator cap"}))  # fmt: skip
            assert fixed["service_event_id"] == visit["id"], "the visit that followed, found by itself"

            table = {(r["rule_id"], r["model"]): r for r in await ok(await api.get("/rules/performance"))}
            overtemp = table[("coolant_overtemp", "Compact 1.5")]
            assert (overtemp["incidents"], overtemp["confirmed"], overtemp["refuted"]) == (3, 2, 1)
            assert overtemp["field_precision"] == 0.667
            assert overtemp["median_lead_days"] == 4.0  # repairs 3 and 5 days after the first alert
            assert overtemp["flagged"] is False, "3 outcomes are too few to judge a rule"
            dtc = table[("dtc.P0217", "Compact 1.5")]
            assert (dtc["incidents"], dtc["confirmed"], dtc["field_precision"], dtc["median_lead_days"]) == (1, 1, 1, 3)

        async with await connect(settings) as conn:  # the CRM hears of each problem once, with its alerts
            cur = await conn.execute(
                "SELECT type, payload->'data'->'alert_ids' AS alerts FROM outbox_events"
                " WHERE payload->'data'->>'incident_id' = %s ORDER BY seq",
                (str(one),),
            )
            events = [(r["type"], len(r["alerts"])) for r in await cur.fetchall()]
        assert events == [("incident.opened", 2), ("incident.acknowledged", 2), ("incident.resolved", 2)]

    asyncio.run(go())
    table = subprocess.run(
        [sys.executable, "-m", "server.cli", "rules", "performance"],
        env={**os.environ, "TELEMETRY_DATABASE_URL": settings.require_database_url(),
             "TELEMETRY_DATABASE_SCHEMA": settings.database_schema},
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    row = next(line.split() for line in table.splitlines() if line.startswith("coolant_overtemp "))
    assert row == ["coolant_overtemp", "Compact", "1.5", "3", "2", "1", "0.667", "4.0"]


def test_a_rule_below_the_precision_floor_is_flagged_once_it_has_enough_outcomes(settings: Settings) -> None:
    strict = settings.model_copy(update={"rule_precision_floor": 0.9, "rule_precision_min_outcomes": 2})

    async def go() -> list[dict]:
        async with await connect(strict) as conn:
            for n, vin in enumerate(["1HGCM82633A004352", "1G1ZT53826F109149"]):
                vid = await add_vehicle(conn, vin)
                incident = await incidents.attach(
                    conn, alert_id=await raise_alert(conn, vid, COOLING[2], T0), reopen_within=HOUR
                )
                outcome = IncidentOutcome.REPAIRED if n == 0 else IncidentOutcome.NO_FAULT_FOUND
                operation = "fan relay" if n == 0 else None
                await incidents.resolve(
                    conn, incident_id=incident, by="ann", outcome=outcome, operation=operation,
                    service_event_id=None, note=None,
                )  # fmt: skip
            await conn.commit()
        async with api_client(strict) as api:
            response = await api.get("/rules/performance")
            assert response.status_code == 200, response.text
            return response.json()

    [row] = asyncio.run(go())
    assert (row["rule_id"], row["field_precision"], row["flagged"]) == ("coolant_hotter_than_expected", 0.5, True)
