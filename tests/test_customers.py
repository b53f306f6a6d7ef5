"""Customer records: normalised contact data, VIN checks, and one record per real customer."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TypeVar

import httpx
import pytest

from crm.contact_data import name_key, normalize_email, normalize_phone
from telemetry.errors import InvalidRequestError
from telemetry.settings import Settings
from tests.fix_services import api_client, make_key

T = TypeVar("T")


def run(coro: Coroutine[object, object, T]) -> T:
    return asyncio.run(coro)


def test_contact_data_has_one_normal_form() -> None:
    assert normalize_email("  Anna.Schmidt@Example.COM ") == "anna.schmidt@example.com"
    assert normalize_phone("089 1234567", "DE") == "+49891234567"
    assert normalize_phone("+49 (0)89 123-4567", "FR") == "+49891234567", "an explicit country code wins"
    assert normalize_phone("", "DE") is None
    assert name_key("Müller-Lüdenscheidt, Anna") == "muller ludenscheidt anna"
    with pytest.raises(InvalidRequestError, match="email 'anna@'"):
        normalize_email("anna@")
    with pytest.raises(InvalidRequestError, match="is not a valid number"):
        normalize_phone("12", "DE")


async def dealers(http: httpx.AsyncClient) -> tuple[int, int]:
    a = (await http.post("/dealers", json={"code": "NORTH", "name": "North"})).json()["id"]
    b = (await http.post("/dealers", json={"code": "SOUTH", "name": "South"})).json()["id"]
    return a, b


def test_customers_are_stored_normalised_and_bad_contact_data_is_refused(settings: Settings) -> None:
    async def go() -> None:
        async with api_client(settings) as http:
            north, _ = await dealers(http)
            body = {"name": "Anna Schmidt", "email": "Anna.Schmidt@Example.com", "phone": "089 1234567"}
            created = (await http.post("/customers", json={**body, "dealer_id": north})).json()
            assert (created["email"], created["phone"]) == ("anna.schmidt@example.com", "+49891234567")
            bad = await http.post("/customers", json={"name": "X", "email": "not-an-address"})
            assert bad.status_code == 422
            assert "email 'not-an-address'" in bad.json()["detail"]
            assert (await http.post("/customers", json={"name": "X", "phone": "0000"})).status_code == 422

    run(go())


def test_a_probable_duplicate_is_refused_with_the_candidates_unless_confirmed(settings: Settings) -> None:
    async def go() -> None:
        async with api_client(settings) as http:
            north, south = await dealers(http)
            first = {"name": "Anna Schmidt", "email": "anna@example.com", "postcode": "80331", "dealer_id": north}
            original = (await http.post("/customers", json=first)).json()
            # the same person at the other dealer, through a web form
            again = await http.post(
                "/customers", json={"name": "A. Schmidt", "email": "ANNA@example.com", "dealer_id": south}
            )
            assert again.status_code == 409
            [candidate] = again.json()["candidates"]
            assert candidate == {
                "customer_id": original["id"], "name": "Anna Schmidt", "dealer_id": north,
                "reasons": ["same e-mail"], "score": 1.0,
            }  # fmt: skip
            typo = await http.post("/customers", json={"name": "Schmidt, Ana", "postcode": "80 331"})
            assert typo.status_code == 409
            assert typo.json()["candidates"][0]["reasons"][0].startswith("similar name at the same postcode")
            elsewhere = await http.post("/customers", json={"name": "Anna Schmidt", "postcode": "10115"})
            assert elsewhere.status_code == 201, "a common name in another town is someone else"
            forced = await http.post(
                "/customers",
                params={"allow_duplicate": "true"},
                json={"name": "Anna Schmidt", "email": "anna@example.com"},
            )
            assert forced.status_code == 201

    run(go())


def test_an_advisor_learns_of_a_duplicate_at_another_dealer_but_not_who_it_is(settings: Settings) -> None:
    async def go() -> None:
        async with api_client(settings) as admin:
            north, south = await dealers(admin)
            await admin.post("/customers", json={"name": "Ben Weber", "phone": "+49 30 1234567", "dealer_id": north})
        async with api_client(settings, make_key(settings, "advisor", south)) as advisor:
            refused = await advisor.post(
                "/customers", json={"name": "Ben Weber", "phone": "030 1234567", "dealer_id": south}
            )
        assert refused.status_code == 409
        [candidate] = refused.json()["candidates"]
        assert (candidate["customer_id"], candidate["name"], candidate["dealer_id"]) == (None, None, north)
        assert candidate["reasons"] == ["same phone"]

    run(go())


def test_vins_with_a_wrong_check_digit_are_refused_where_the_region_uses_one(settings: Settings) -> None:
    async def go() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with api_client(settings) as http:
            vehicle = {"make": "Honda", "model": "Accord", "model_year": 2003, "powertrain": "combustion"}
            wrong = await http.post("/vehicles", json={**vehicle, "vin": "1HGCM82643A004352"})
            right = await http.post("/vehicles", json={**vehicle, "vin": "1HGCM82633A004352"})
            european = await http.post("/vehicles", json={**vehicle, "vin": "WVWZZZ1JZXW000001"})
            return wrong, right, european

    wrong, right, european = run(go())
    assert wrong.status_code == 422
    assert "check digit (position 9) is 4, should be 3" in wrong.text
    assert (right.status_code, european.status_code) == (201, 201)
