"""The advisor's one view of a customer: vehicles with their latest telemetry, open alerts and
next service, the service history, consents and a timeline."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson

from telemetry.storage import alerts
from telemetry.storage.db import connect
from telemetry.timeutil import now_ms
from tests.fix_server import Server, wait_for
from tests.fix_services import make_key
from tests.test_end_to_end import publish, register, series


def test_the_customer_record_is_one_view_of_customer_and_vehicle(server: Server) -> None:
    vin = "WA1V1EWV1EWV1EW01"
    customer = register(server, vin)
    signals = {"Vehicle.TraveledDistance": 41_234_500, "Vehicle.Powertrain.FuelSystem.RelativeLevel": 63.0}
    publish(server, vin, [orjson.dumps({"vin": vin, "ts": now_ms(), "signals": signals})])
    wait_for(lambda: series(server, vin, "Vehicle.TraveledDistance"))
    service = {"performed_at": "2026-03-01T09:00:00+01:00", "odometer_km": 30_000, "kind": "scheduled"}
    assert server.api.post(f"/vehicles/{vin}/services", json=service).status_code == 201
    consent = {"purpose": "marketing", "granted": True, "source": "showroom"}
    assert server.api.post(f"/customers/{customer['id']}/consents", json=consent).status_code == 201

    async def fire() -> None:
        async with await connect(server.settings) as conn:
            cur = await conn.execute("SELECT id FROM vehicles WHERE vin = %s", (vin,))
            vid = (await cur.fetchone())["id"]
            at = datetime.now(UTC) - timedelta(minutes=5)
            firing = alerts.Firing(
                vid, "tyre_low_front_left", 1, "warning", "Tyre low", "172 kPa", at, at, 172.0, {}, "threshold"
            )
            await alerts.fire(conn, firing, reopen_within=timedelta(hours=1))
            await conn.commit()

    asyncio.run(fire())
    view = server.api.get(f"/customers/{customer['id']}").json()
    [vehicle] = view["vehicles"]
    assert vehicle["latest"]["odometer_km"] == 41_234.5
    assert vehicle["latest"]["fuel_percent"] == 63.0
    assert vehicle["latest"]["charge_percent"] is None
    assert (vehicle["latest"]["open_alerts"], vehicle["latest"]["worst_open_severity"]) == (1, "warning")
    # Compact 1.5: every 15,000 km or 12 months, from the service on 1 March
    assert vehicle["next_service"]["due_at_km"] == 45_000
    assert vehicle["next_service"]["due_on"] == "2027-03-01"
    assert [s["odometer_km"] for s in view["services"]] == [30_000]
    assert view["consents"]["marketing"]["source"] == "showroom"
    assert [e["kind"] for e in view["timeline"]] == ["consent", "alert", "service"], "newest first"
    assert view["timeline"][-1]["summary"] == "scheduled service at 30,000 km"


def test_export_holds_everything_and_erasure_removes_the_person(server: Server) -> None:
    vin = "WA1ERASEERASEER01"
    customer = register(server, vin)
    consent = {"purpose": "location_history", "granted": True, "source": "app"}
    assert server.api.post(f"/customers/{customer['id']}/consents", json=consent).status_code == 201
    doc = {"vin": vin, "ts": now_ms(), "signals": {"Vehicle.Speed": 30.0, "Vehicle.CurrentLocation.Latitude": 48.1}}
    publish(server, vin, [orjson.dumps(doc)])
    wait_for(lambda: series(server, vin, "Vehicle.CurrentLocation.Latitude"))
    export = server.api.get(f"/customers/{customer['id']}/export").json()
    assert export["record"]["email"] == customer["email"]
    assert [c["purpose"] for c in export["consent_history"]] == ["location_history"]
    held = export["telemetry"][vin]
    assert held["Vehicle.CurrentLocation.Latitude"]["values"] == 1
    assert held["Vehicle.Speed"]["fetch"] == f"/vehicles/{vin}/signals/Vehicle.Speed"

    erased = server.api.delete(f"/customers/{customer['id']}")
    assert erased.json() == {"erased": customer["id"], "vehicles_unlinked": [vin]}
    record = server.api.get(f"/customers/{customer['id']}").json()
    assert (record["name"], record["email"], record["vehicles"], record["consents"]) == (
        f"erased customer {customer['id']}", None, [], {},
    )  # fmt: skip
    assert server.api.get(f"/vehicles/{vin}").json()["owner_customer_id"] is None
    again = {
        "vin": vin,
        "ts": now_ms() + 1000,
        "signals": {"Vehicle.Speed": 31.0, "Vehicle.CurrentLocation.Latitude": 48.2},
    }
    publish(server, vin, [orjson.dumps(again)])
    wait_for(lambda: len(series(server, vin, "Vehicle.Speed")) == 2)
    assert len(series(server, vin, "Vehicle.CurrentLocation.Latitude")) == 1, "no owner, no consent: no location"
    reader = make_key(server.settings, "vehicle-readonly")
    refused = server.api.delete(f"/customers/{customer['id']}", headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403


def test_a_car_that_sends_no_odometer_or_fuel_is_still_seen(server: Server) -> None:
    vin = "WA1SEENSEENSEEN01"
    customer = register(server, vin)
    sent_at = now_ms()
    publish(server, vin, [orjson.dumps({"vin": vin, "ts": sent_at, "signals": {"Vehicle.Speed": 42.0}})])
    wait_for(lambda: series(server, vin, "Vehicle.Speed"))
    [vehicle] = server.api.get(f"/customers/{customer['id']}").json()["vehicles"]
    assert vehicle["latest"]["odometer_km"] is None
    seen = datetime.fromisoformat(vehicle["latest"]["last_seen"])
    assert abs(seen.timestamp() * 1000 - sent_at) < 1000, "last reading is the newest sample of any signal"
