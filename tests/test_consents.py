"""Consent per purpose: recorded with date and source, in force at once; location history is
stored only for vehicles whose owner allows it."""

from __future__ import annotations

import orjson

from telemetry.timeutil import now_ms
from tests.fix_server import Server, wait_for
from tests.test_end_to_end import publish, register, series

LAT = "Vehicle.CurrentLocation.Latitude"


def test_location_is_stored_only_while_the_owner_allows_it(server: Server) -> None:
    vin = "WA1C0NSENTLCTN001"
    customer = register(server, vin)

    def send(speed: float, lat: float) -> None:
        doc = {"vin": vin, "ts": now_ms(), "signals": {"Vehicle.Speed": speed, LAT: lat}}
        publish(server, vin, [orjson.dumps(doc)])

    def consent(granted: bool) -> None:
        body = {"purpose": "location_history", "granted": granted, "source": "service desk"}
        assert server.api.post(f"/customers/{customer['id']}/consents", json=body).status_code == 201

    send(10.0, 48.1)
    wait_for(lambda: len(series(server, vin, "Vehicle.Speed")) == 1)
    assert series(server, vin, LAT) == [], "no consent asked yet: no location"
    consent(True)
    send(20.0, 48.2)
    wait_for(lambda: len(series(server, vin, LAT)) == 1)
    consent(False)
    send(30.0, 48.3)
    wait_for(lambda: len(series(server, vin, "Vehicle.Speed")) == 3)
    assert [p["value"] for p in series(server, vin, LAT)] == [48.2], "withdrawn: at once"
    consents = server.api.get(f"/customers/{customer['id']}/consents").json()
    assert consents["current"]["location_history"]["granted"] is False
    assert [c["granted"] for c in consents["history"]] == [False, True]
    assert consents["history"][0]["source"] == "service desk"


def test_consent_for_an_unknown_purpose_is_refused(server: Server) -> None:
    customer = register(server, "WA1C0NSENTLCTN002")
    body = {"purpose": "selling_data", "granted": True, "source": "web"}
    refused = server.api.post(f"/customers/{customer['id']}/consents", json=body)
    assert refused.status_code == 422
    assert server.api.post("/customers/999999/consents", json={**body, "purpose": "marketing"}).status_code == 404
