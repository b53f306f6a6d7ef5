"""Registering a simulated fleet through the HTTP API before it publishes: a few dealers, one
customer per private car (a company for the vans) with their consents, the vehicles with their
delivery date, and each vehicle's last scheduled service. Re-running finds what is already there."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime

import httpx

from simulators.fleet import Fleet
from telemetry.errors import InvalidRequestError

DEALERS = (
    ("SIM-N", "Simulator Motors North"),
    ("SIM-S", "Simulator Motors South"),
    ("SIM-F", "Simulator Fleet Centre"),
)
PARALLEL = 16


async def register(
    fleet: Fleet, api_url: str, *, api_key: str | None = None, client: httpx.AsyncClient | None = None
) -> int:
    """Returns how many vehicles were newly registered. `api_key`: an admin key; `client`: an
    open client (with its key) to use instead."""
    if client is None:
        client = httpx.AsyncClient(base_url=api_url, timeout=30, headers=auth_headers(api_key))
        opened: AbstractAsyncContextManager[httpx.AsyncClient] = client
    else:
        opened = nullcontext(client)  # the caller's: left open
    async with opened as http:
        existing = {d["code"]: d for d in _ok(await http.get("/dealers")).json()}
        dealer_ids = []
        for code, name in DEALERS:
            if code not in existing:
                existing[code] = _ok(await http.post("/dealers", json={"code": code, "name": name})).json()
            dealer_ids.append(existing[code]["id"])
        gate = asyncio.Semaphore(PARALLEL)
        results = await asyncio.gather(*(_one(http, fleet, i, dealer_ids, gate) for i in range(fleet.size)))
    return sum(results)


async def _one(http: httpx.AsyncClient, fleet: Fleet, i: int, dealer_ids: list[int], gate: asyncio.Semaphore) -> bool:
    vin, model = fleet.vins[i], fleet.models[i]
    number = int(fleet.members[i]) + 1
    async with gate:
        if (await http.get(f"/vehicles/{vin}")).status_code == 200:
            return False
        dealer = dealer_ids[2] if fleet.is_van(i) else dealer_ids[number % 2]
        person = {"kind": "person", "name": f"Simulated Driver {number}", "email": f"driver.{vin.lower()}@example.com"}
        company = {
            "kind": "company",
            "name": f"Simulated Logistics {number}",
            "email": f"fleet.{vin.lower()}@example.com",
        }
        body = {**(company if fleet.is_van(i) else person), "dealer_id": dealer}
        customer = _ok(await http.post("/customers", json=body)).json()
        for purpose in _consents(number):
            consent = {"purpose": purpose, "granted": True, "source": "simulated onboarding"}
            _ok(await http.post(f"/customers/{customer['id']}/consents", json=consent))
        delivered = datetime.fromtimestamp(int(fleet.delivered_ms[i]) / 1000, UTC).date()
        vehicle = {
            "vin": vin, "make": model.make, "model": model.model, "model_year": delivered.year,
            "powertrain": model.powertrain, "owner_customer_id": customer["id"], "dealer_id": dealer,
            "delivered_on": delivered.isoformat(),
        }  # fmt: skip
        _ok(await http.post("/vehicles", json=vehicle))
        service = service_body(int(fleet.last_service_ms[i]), float(fleet.last_service_km[i]))
        _ok(await http.post(f"/vehicles/{vin}/services", json={**service, "dealer_id": dealer}))
        return True


def _consents(number: int) -> list[str]:
    """What the simulated customer agreed to: alerts always, location history 70 %, marketing 40 %."""
    draw = number * 2654435761 % 100  # spread evenly, the same on every run
    return (
        ["maintenance_alerts"] + (["location_history"] if draw < 70 else []) + (["marketing"] if draw % 10 < 4 else [])
    )


def service_body(ts_ms: int, odometer_km: float) -> dict[str, object]:
    """A scheduled service as `POST /vehicles/{vin}/services` takes it."""
    performed_at = datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat()
    return {"performed_at": performed_at, "odometer_km": round(odometer_km, 1), "kind": "scheduled"}


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _ok(response: httpx.Response) -> httpx.Response:
    """The response, or an error that says which call the API refused and why."""
    if response.is_error:
        request = response.request
        raise InvalidRequestError(f"{request.method} {request.url}: {response.status_code} {response.text[:300]}")
    return response
