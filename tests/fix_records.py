"""Two dealers with a full set of records each, made as an admin would, for the isolation tests."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from telemetry.settings import Settings
from telemetry.storage import alerts, incidents, offers
from telemetry.storage.db import connect
from tests.fix_services import make_key


@dataclass
class Dealer:
    tag: str
    ids: dict[str, str] = field(default_factory=dict)
    markers: list[str] = field(default_factory=list)  # what only this dealer's records contain
    personal: list[str] = field(default_factory=list)  # its customer's name and contact data


async def seed(api: httpx.AsyncClient, settings: Settings, tag: str, vin: str, shared: dict[str, str]) -> Dealer:
    async def ok(answer: object) -> dict:
        response = await answer  # type: ignore[misc]
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    personal = [f"Person {tag}marker", f"{tag.lower()}@marker.example"]
    d = Dealer(tag, markers=[vin, f"Dealer {tag}marker", *personal], personal=personal)
    dealer = await ok(api.post("/dealers", json={"code": f"MX{tag}", "name": f"Dealer {tag}marker"}))
    branch = await ok(api.post(f"/dealers/{dealer['id']}/branches", json={"code": "MAIN", "name": f"Main {tag}"}))
    person = {"name": f"Person {tag}marker", "dealer_id": dealer["id"], "email": f"{tag.lower()}@marker.example"}
    customer = await ok(api.post("/customers", json=person))
    second = await ok(
        api.post("/customers?allow_duplicate=true", json={"name": f"Second {tag}", "dealer_id": dealer["id"]})
    )
    members = [{"customer_id": customer["id"], "role": "owner"}]
    household = await ok(
        api.post("/households", json={"name": f"House {tag}", "dealer_id": dealer["id"], "members": members})
    )
    vehicle = await ok(api.post("/vehicles", json={
        "vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2024, "powertrain": "combustion",
        "owner_customer_id": customer["id"], "dealer_id": dealer["id"]}))  # fmt: skip
    when = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    await ok(api.post(f"/vehicles/{vin}/services", json={
        "performed_at": when, "odometer_km": 1000, "dealer_id": dealer["id"], "branch_id": branch["id"],
        "invoice_number": "INV-1"}))  # fmt: skip
    await ok(api.post(f"/customers/{customer['id']}/contacts", json={
        "channel": "phone", "purpose": "service", "outcome": "reached", "by": "seed", "vin": vin}))  # fmt: skip
    merge = await ok(api.post(f"/customers/{customer['id']}/merges", json={"source_id": second["id"], "by": "seed"}))
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    entitlement = await ok(api.post(f"/vehicles/{vin}/features/{shared['feature_code']}/activations",
                                    json={"kind": "trial"}, headers=headers))  # fmt: skip
    async with await connect(settings) as conn:
        now = datetime.now(UTC)
        vid = int(vehicle["id"])
        firing = alerts.Firing(vid, "coolant_overtemp", 1, "warning", "Hot", "hot", now, now, 1.0, {}, "threshold")
        alert_id = await alerts.fire(conn, firing, reopen_within=timedelta(0))
        incident_id = await incidents.attach(conn, alert_id=alert_id, reopen_within=timedelta(0))
        offer_id = await offers.fire(
            conn, vehicle_id=int(vehicle["id"]), feature_code=shared["offer_code"], rule_id="towing",
            reason="tows", first_seen=now, last_seen=now)  # fmt: skip
        await conn.commit()
    d.ids = {
        "dealer_id": str(dealer["id"]), "customer_id": str(customer["id"]), "merge_id": str(merge["id"]),
        "household_id": str(household["id"]), "member_id": str(household["members"][0]["id"]), "vin": vin,
        "alert_id": str(alert_id),
        "incident_id": str(incident_id), "entitlement_id": str(entitlement["id"]), "offer_id": str(offer_id),
    }  # fmt: skip
    return d


async def two_dealers(http: httpx.AsyncClient, settings: Settings) -> tuple[Dealer, Dealer, dict[str, str]]:
    """Dealers A and B with their records, and what they share (two options, a recall, a webhook)."""
    admin = {"Authorization": f"Bearer {make_key(settings)}"}
    shared = {"feature_code": "heated_seats", "offer_code": "trailer_assist", "recall_code": "MX-R1"}
    for code in ("heated_seats", "trailer_assist"):
        body = {"code": code, "name": code, "price_model": "monthly", "trial_days": 30}
        assert (await http.post("/features", json=body, headers=admin)).status_code == 201
    recall = {"code": "MX-R1", "title": "Matrix recall", "issued_on": "2026-01-01", "vins": ["WMXAAA00000000001"]}
    assert (await http.post("/recalls", json=recall, headers=admin)).status_code == 201
    hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["alert"]}
    shared["endpoint_id"] = str((await http.post("/webhooks", json=hook, headers=admin)).json()["id"])
    http.headers.update(admin)
    try:
        a = await seed(http, settings, "A", "WMXAAA00000000001", shared)
        b = await seed(http, settings, "B", "WMXBBB00000000002", shared)
    finally:
        del http.headers["Authorization"]
    return a, b, shared


def normalized(answer: httpx.Response, ids: list[str]) -> tuple[int, str]:
    """Status and body with the given record ids blanked, to compare another dealer's answer with a
    missing record's."""
    text = answer.text
    for value in sorted(ids, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(value)}\b", "<id>", text)
    return answer.status_code, text
