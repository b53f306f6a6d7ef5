"""API keys and roles: no key no data, and an advisor sees only their own dealer's records."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Coroutine
from typing import TypeVar

import httpx
import psycopg
import pytest

from server.supervisor import child_env
from telemetry.settings import Settings
from telemetry.storage import apikeys
from telemetry.storage.db import connect_sync
from tests.fix_services import api_client, make_key

VIN_A, VIN_B = "WA1AAAAAAAAAAAAA1", "WA1BBBBBBBBBBBBB2"
T = TypeVar("T")


async def seed(http: httpx.AsyncClient) -> dict[str, int]:
    """Two dealers, each with a customer and a vehicle."""
    ids: dict[str, int] = {}
    for tag, vin in (("A", VIN_A), ("B", VIN_B)):
        dealer = (await http.post("/dealers", json={"code": f"D{tag}", "name": f"Dealer {tag}"})).json()
        customer = (await http.post("/customers", json={"name": f"Customer {tag}", "dealer_id": dealer["id"]})).json()
        vehicle = {
            "vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2024, "powertrain": "combustion",
            "owner_customer_id": customer["id"], "dealer_id": dealer["id"],
        }  # fmt: skip
        assert (await http.post("/vehicles", json=vehicle)).status_code == 201
        ids[f"dealer_{tag}"], ids[f"customer_{tag}"] = dealer["id"], customer["id"]
    return ids


def run(coro: Coroutine[object, object, T]) -> T:
    return asyncio.run(coro)


def test_no_key_or_a_wrong_one_gets_401(settings: Settings) -> None:
    async def go() -> list[httpx.Response]:
        async with api_client(settings) as http:
            del http.headers["Authorization"]
            return [
                await http.get(f"/vehicles/{VIN_A}"),
                await http.get(f"/vehicles/{VIN_A}", headers={"Authorization": "Bearer tk_00000000_nope"}),
                await http.get(f"/vehicles/{VIN_A}", headers={"Authorization": "Bearer not-a-key"}),
                await http.get("/health"),
            ]

    missing, unknown, malformed, health = run(go())
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["detail"]
    assert (unknown.status_code, malformed.status_code) == (401, 401)
    assert health.status_code == 200, "health stays open for load balancers"


def test_an_advisor_sees_only_their_dealers_records(settings: Settings) -> None:
    async def go() -> None:
        async with api_client(settings) as admin:
            ids = await seed(admin)
        key_a = make_key(settings, "advisor", ids["dealer_A"])
        async with api_client(settings, key_a) as advisor:
            assert (await advisor.get(f"/customers/{ids['customer_A']}")).status_code == 200
            other = await advisor.get(f"/customers/{ids['customer_B']}")
            assert other.status_code == 404, "another dealer's customer does not exist for this key"
            assert other.json()["detail"] == f"customer {ids['customer_B']} not found"
            assert (await advisor.get(f"/vehicles/{VIN_A}")).status_code == 200
            assert (await advisor.get(f"/vehicles/{VIN_B}")).status_code == 404
            assert (await advisor.get(f"/vehicles/{VIN_B}/alerts")).status_code == 404
            assert (await advisor.get(f"/vehicles/{VIN_B}/services")).status_code == 404
            dealers = (await advisor.get("/dealers")).json()
            assert [d["id"] for d in dealers] == [ids["dealer_A"]]
            assert (await advisor.get(f"/dealers/{ids['dealer_B']}")).status_code == 404
            poach = await advisor.post("/customers", json={"name": "Poached", "dealer_id": ids["dealer_B"]})
            assert (poach.status_code, poach.json()["detail"]) == (404, f"dealer {ids['dealer_B']} not found")
            mine = await advisor.post("/customers", json={"name": "New", "dealer_id": ids["dealer_A"]})
            assert mine.status_code == 201
            assert (await advisor.post("/dealers", json={"code": "X", "name": "X"})).status_code == 403
            assert (await advisor.get("/dead-letters")).status_code == 403

    run(go())


def test_a_read_only_integration_reads_vehicles_and_nothing_personal(settings: Settings) -> None:
    async def go() -> None:
        async with api_client(settings) as admin:
            ids = await seed(admin)
        async with api_client(settings, make_key(settings, "vehicle-readonly")) as reader:
            assert (await reader.get(f"/vehicles/{VIN_B}")).status_code == 200
            assert (await reader.get(f"/vehicles/{VIN_B}/signals/Vehicle.Speed")).status_code == 200
            assert (await reader.get(f"/customers/{ids['customer_A']}")).status_code == 403
            assert (await reader.post(f"/vehicles/{VIN_B}/services", json={})).status_code == 403

    run(go())


def test_keys_are_shown_once_stored_as_digests_and_revocable(settings: Settings) -> None:
    env = child_env(settings)
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "keys", "create", "--role", "oem", "--name", "factory"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    key = out.strip().splitlines()[-1]
    assert key.startswith("tk_")
    with psycopg.connect(settings.require_database_url()) as conn:
        conn.execute(f"SET search_path TO {settings.database_schema}")
        stored = conn.execute("SELECT prefix, digest FROM api_keys").fetchall()
    assert all(key.split("_", 2)[2] not in (prefix, digest) for prefix, digest in stored), "no key in clear"

    async def status() -> int:
        async with api_client(settings, key) as http:
            return (await http.get("/dealers")).status_code

    assert run(status()) == 200
    listed = subprocess.run(
        [sys.executable, "-m", "server.cli", "keys", "list"], env=env, capture_output=True, text=True, check=True
    ).stdout
    key_id = int(next(line for line in listed.splitlines() if "factory" in line).split()[0])
    subprocess.run([sys.executable, "-m", "server.cli", "keys", "revoke", str(key_id)], env=env, check=True)
    assert run(status()) == 401, "a revoked key stops working at once"
    bad = subprocess.run(
        [sys.executable, "-m", "server.cli", "keys", "create", "--role", "advisor"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "an advisor key needs a dealer" in bad.stderr


def test_advisor_key_for_a_missing_dealer_is_refused(settings: Settings) -> None:
    with connect_sync(settings) as conn, pytest.raises(Exception, match="dealer 999 not found"):
        apikeys.create_sync(conn, role="advisor", dealer_id=999)


def test_openapi_declares_the_bearer_scheme_and_the_auth_errors(settings: Settings) -> None:
    async def go() -> dict:
        async with api_client(settings) as http:
            return (await http.get("/openapi.json")).json()

    spec = run(go())
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    get_vehicle = spec["paths"]["/vehicles/{vin}"]["get"]
    assert {"401", "403", "404"} <= set(get_vehicle["responses"])
