"""Ids in bodies and queries, and the dates people give: each finding of the security review.

An advisor naming another dealer's customer, dealer, branch or alert gets exactly what a record
that does not exist gets, and changes nothing of theirs; an OEM key cannot name owners; a date out
of its range is a 422 naming the field; a stored date out of range still shows (no 500)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from api.app import create_app
from telemetry.settings import Settings
from telemetry.storage.db import connect
from tests.fix_records import Dealer, normalized, two_dealers
from tests.fix_services import in_process, make_key

MISSING = 999_999_999


def same_as_missing(theirs: httpx.Response, missing: httpx.Response, *ids: object) -> bool:
    blanked = [str(i) for i in (*ids, MISSING)]
    return normalized(theirs, blanked) == normalized(missing, blanked)


Scenario = Callable[[httpx.AsyncClient, Dealer, Dealer, dict[str, str]], Awaitable[None]]


def run(settings: Settings, scenario: Scenario) -> None:
    """`scenario(advisor_a, a, b, keys)`: the advisor of dealer A's client, after both dealers are seeded."""

    async def go() -> None:
        async with in_process(create_app(settings)) as http:
            a, b, _ = await two_dealers(http, settings)
            keys = {"admin": make_key(settings), "oem": make_key(settings, "oem")}
            http.headers["Authorization"] = f"Bearer {make_key(settings, 'advisor', int(a.ids['dealer_id']))}"
            await scenario(http, a, b, keys)

    asyncio.run(go())


def vehicle(vin: str, **fields: object) -> dict[str, object]:
    return {
        "vin": vin,
        "make": "Aurora",
        "model": "Compact 1.5",
        "model_year": 2024,
        "powertrain": "combustion",
        **fields,
    }


def test_an_advisor_cannot_make_another_dealers_customer_an_owner(settings: Settings) -> None:
    async def scenario(api: httpx.AsyncClient, a: Dealer, b: Dealer, keys: dict[str, str]) -> None:
        dealer, theirs = int(a.ids["dealer_id"]), int(b.ids["customer_id"])
        taken = await api.post(
            "/vehicles", json=vehicle("WMXCCC00000000003", dealer_id=dealer, owner_customer_id=theirs)
        )
        missing = await api.post(
            "/vehicles", json=vehicle("WMXCCC00000000003", dealer_id=dealer, owner_customer_id=MISSING)
        )
        assert taken.status_code == 404
        assert same_as_missing(taken, missing, theirs)
        mine = await api.post("/vehicles", json=vehicle("WMXCCC00000000003", dealer_id=dealer))
        assert mine.status_code == 201
        patched = await api.patch("/vehicles/WMXCCC00000000003", json={"owner_customer_id": theirs})
        assert patched.status_code == 404
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        record = (await api.get(f"/customers/{theirs}", headers=admin)).json()
        assert [v["vin"] for v in record["vehicles"]] == [b.ids["vin"]], "B's customer lists only B's vehicle"
        calls = (await api.get(f"/dealers/{dealer}/recommendations?include_blocked=true")).text
        assert not any(marker in calls for marker in b.markers)
        oem = {"Authorization": f"Bearer {keys['oem']}"}
        named = await api.post("/vehicles", json=vehicle("WMXDDD00000000004", owner_customer_id=theirs), headers=oem)
        assert named.status_code == 403
        assert (
            await api.patch("/vehicles/WMXCCC00000000003", json={"registration": "X"}, headers=oem)
        ).status_code == 403

    run(settings, scenario)


def test_services_and_contacts_cannot_name_another_dealer_branch_or_alert(settings: Settings) -> None:
    async def scenario(api: httpx.AsyncClient, a: Dealer, b: Dealer, keys: dict[str, str]) -> None:
        url = f"/vehicles/{a.ids['vin']}/services"
        visit = {"performed_at": datetime.now(UTC).isoformat(), "odometer_km": 2000, "invoice_number": "INV-B-2"}
        their_dealer, their_branch = int(b.ids["dealer_id"]), await branch_of(api, keys, b)
        for field, theirs in (("dealer_id", their_dealer), ("branch_id", their_branch)):
            taken = await api.post(url, json={**visit, field: theirs})
            missing = await api.post(url, json={**visit, field: MISSING})
            assert taken.status_code == 404, taken.text
            assert same_as_missing(taken, missing, theirs), (taken.text, missing.text)
        # dealer B's own invoice number is still B's to record
        b_visit = {**visit, "dealer_id": their_dealer, "invoice_number": "INV-B-2"}
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        assert (await api.post(f"/vehicles/{b.ids['vin']}/services", json=b_visit, headers=admin)).status_code == 201

        contacts = f"/customers/{a.ids['customer_id']}/contacts"
        call = {"channel": "phone", "purpose": "service", "outcome": "reached", "by": "anna"}
        for field, theirs in (("dealer_id", their_dealer), ("alert_id", int(b.ids["alert_id"]))):
            taken = await api.post(contacts, json={**call, field: theirs})
            missing = await api.post(contacts, json={**call, field: MISSING})
            assert taken.status_code == 404
            assert same_as_missing(taken, missing, theirs)
            assert b.ids["vin"] not in taken.text

    run(settings, scenario)


async def branch_of(api: httpx.AsyncClient, keys: dict[str, str], dealer: Dealer) -> int:
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    branches = (await api.get(f"/dealers/{dealer.ids['dealer_id']}/branches", headers=admin)).json()
    return int(branches[0]["id"])


def test_dates_out_of_range_are_422_naming_the_field(settings: Settings) -> None:
    async def scenario(api: httpx.AsyncClient, a: Dealer, _b: Dealer, _keys: dict[str, str]) -> None:
        vin, customer, dealer = a.ids["vin"], a.ids["customer_id"], a.ids["dealer_id"]
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        refusals = {
            "performed_at": await api.post(
                f"/vehicles/{vin}/services", json={"performed_at": "9999-12-31T00:00:00+00:00", "odometer_km": 1}
            ),
            "given_at": await api.post(
                f"/customers/{customer}/consents",
                json={"purpose": "marketing", "granted": True, "source": "web", "given_at": tomorrow},
            ),
            "delivered_on": await api.patch(f"/vehicles/{vin}", json={"delivered_on": "9999-12-31"}),
            "on": await api.get(f"/dealers/{dealer}/recommendations?on=9999-12-31"),
            "from": await api.get(f"/vehicles/{vin}/signals/Vehicle.Speed?from=0001-01-01T00:00:00Z"),
        }
        for field, answer in refusals.items():
            assert answer.status_code == 422, (field, answer.text)
            assert field in answer.json()["detail"]
        early = await api.get(f"/dealers/{dealer}/recommendations?on=0001-01-01")
        assert early.status_code == 422
        soon = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
        csv = f"vin,date,odometer_km,invoice_number\n{vin},31.12.9999,100,INV-FAR\n{vin},{soon},100,INV-SOON\n"
        imported = await api.post(
            f"/dealers/{dealer}/services/import", content=csv, headers={"Content-Type": "text/csv"}
        )
        assert imported.status_code == 200
        assert imported.json()["imported"] == 0
        assert [e["error"] for e in imported.json()["errors"]] == [
            "date '31.12.9999' must be between 1950-01-01 and 2100-12-31",
            f"date '{soon}' is in the future",
        ]

    run(settings, scenario)


def test_a_stored_date_out_of_range_cannot_make_a_view_fail(settings: Settings) -> None:
    """What an older version (or a hand-made import) may have stored still shows."""

    async def scenario(api: httpx.AsyncClient, a: Dealer, _b: Dealer, _keys: dict[str, str]) -> None:
        async with await connect(settings) as conn:
            await conn.execute(
                "UPDATE service_events SET performed_at = '9999-12-31 00:00:00+00' WHERE vehicle_id ="
                " (SELECT id FROM vehicles WHERE vin = %s)",
                (a.ids["vin"],),
            )
            await conn.commit()
        record = await api.get(f"/customers/{a.ids['customer_id']}")
        assert record.status_code == 200, record.text
        assert (await api.get(f"/vehicles/{a.ids['vin']}/services")).status_code == 200
        calls = await api.get(f"/dealers/{a.ids['dealer_id']}/recommendations?include_blocked=true")
        assert calls.status_code == 200

    run(settings, scenario)
