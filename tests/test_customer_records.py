"""The customer record beyond the person: households, branches, registration and warranty,
invoice-level service history imported from a DMS export, and recalls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from telemetry.settings import Settings
from tests.fix_services import api_client, make_key

Api = httpx.AsyncClient


def run(settings: Settings, scenario: Callable[[Api], Awaitable[None]]) -> None:
    async def go() -> None:
        async with api_client(settings) as api:
            await scenario(api)

    asyncio.run(go())


async def created(response: Awaitable[httpx.Response]) -> dict:
    r = await response
    assert r.status_code == 201, r.text
    return r.json()


async def dealer_with_customers(api: Api, code: str, *names: str) -> tuple[int, list[int]]:
    dealer = (await created(api.post("/dealers", json={"code": code, "name": code})))["id"]
    ids = []
    for name in names:
        body = {"name": name, "email": f"{name.split()[0].lower()}.{code.lower()}@example.com", "dealer_id": dealer}
        ids.append((await created(api.post("/customers", json=body)))["id"])
    return dealer, ids


def vehicle(vin: str, dealer: int, owner: int | None = None, **extra: object) -> dict:
    return {"vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2022, "powertrain": "combustion",
            "dealer_id": dealer, "owner_customer_id": owner, **extra}  # fmt: skip


def test_a_household_has_members_with_roles_over_time_and_shows_on_the_customer(settings: Settings) -> None:
    async def scenario(api: Api) -> None:
        dealer, (ada, ben, cy) = await dealer_with_customers(api, "H1", "Ada Lind", "Ben Lind", "Cy Lind")
        members = [{"customer_id": ada, "role": "owner", "start_on": "2020-01-01"},
                   {"customer_id": ben, "role": "driver", "start_on": "2021-06-01"}]  # fmt: skip
        home = await created(api.post("/households", json={"name": "Lind", "dealer_id": dealer, "members": members}))
        assert [(m["customer_name"], m["role"]) for m in home["members"]] == [
            ("Ada Lind", "owner"),
            ("Ben Lind", "driver"),
        ]

        elsewhere = await created(api.post("/households", json={"name": "Other", "dealer_id": dealer}))
        twice = await api.post(f"/households/{elsewhere['id']}/members", json={"customer_id": ben, "role": "driver"})
        assert twice.status_code == 409
        assert "another household" in twice.json()["detail"]

        ben_member = home["members"][1]["id"]
        early = await api.post(f"/households/{home['id']}/members/{ben_member}/end", json={"end_on": "2019-01-01"})
        assert early.status_code == 422
        ended = await api.post(f"/households/{home['id']}/members/{ben_member}/end", json={"end_on": "2026-10-31"})
        assert ended.json()["end_on"] == "2026-10-31"
        moved = await api.post(f"/households/{elsewhere['id']}/members", json={"customer_id": ben, "role": "owner"})
        assert moved.status_code == 201  # free to join another household now
        await created(api.post(f"/households/{home['id']}/members", json={"customer_id": cy, "role": "family_member"}))

        view = (await api.get(f"/customers/{ada}")).json()
        current = [(m["customer_name"], m["end_on"]) for m in view["household"]["members"]]
        assert current == [("Ada Lind", None), ("Cy Lind", None), ("Ben Lind", "2026-10-31")]  # current first
        assert (await api.get(f"/customers/{ben}")).json()["household"]["name"] == "Other"

        other, _ = await dealer_with_customers(api, "H2")
        outsider = {"Authorization": f"Bearer {make_key(settings, 'advisor', other)}"}
        assert (await api.get(f"/households/{home['id']}", headers=outsider)).status_code == 404
        theirs = await api.post("/households", json={"name": "Sneaky", "dealer_id": dealer}, headers=outsider)
        assert (theirs.status_code, theirs.json()["detail"]) == (404, f"dealer {dealer} not found")

    run(settings, scenario)


def test_registration_warranty_and_preferred_dealer_are_kept_and_changed_with_patch(settings: Settings) -> None:
    async def scenario(api: Api) -> None:
        dealer, (ada, ben) = await dealer_with_customers(api, "V1", "Ada Berg", "Ben Berg")
        preferred, _ = await dealer_with_customers(api, "V2")
        body = vehicle("WAUZZZ8V0KA000101", dealer, ada, registration="M-AB 123", warranty_start="2022-03-01",
                       warranty_end="2025-02-28", preferred_dealer_id=preferred)  # fmt: skip
        car = await created(api.post("/vehicles", json=body))
        assert (car["registration"], car["warranty_end"], car["preferred_dealer_id"]) == (
            "M-AB 123",
            "2025-02-28",
            preferred,
        )
        backwards = {**body, "vin": "WAUZZZ8V0KA000102", "warranty_end": "2021-01-01"}
        assert (await api.post("/vehicles", json=backwards)).status_code == 422

        sold = await api.patch(f"/vehicles/{car['vin']}", json={"owner_customer_id": ben, "registration": "M-BB 9"})
        assert sold.status_code == 200, sold.text
        assert (sold.json()["owner_customer_id"], sold.json()["registration"]) == (ben, "M-BB 9")
        assert sold.json()["warranty_start"] == "2022-03-01"  # untouched
        assert [v["vin"] for v in (await api.get(f"/customers/{ben}")).json()["vehicles"]] == [car["vin"]]
        assert (await api.get(f"/customers/{ada}")).json()["vehicles"] == []
        before_start = await api.patch(f"/vehicles/{car['vin']}", json={"warranty_end": "2020-01-01"})
        assert before_start.status_code == 422
        unknown = await api.patch(f"/vehicles/{car['vin']}", json={"preferred_dealer_id": 999_999})
        assert unknown.status_code == 404
        assert (await api.patch(f"/vehicles/{car['vin']}", json={"colour": "red"})).status_code == 422

    run(settings, scenario)


DMS_EXPORT = """\
FIN;Datum;KM-Stand;Rechnungsnummer;Betrag;Currency;Operations;Parts;Branch;Kind
WAUZZZ8V0KA000201;03.11.2025;15.040;R-1001;289,90;EUR;Oil change|Inspection;04E115561H*1|5W30*4,5;MUC;scheduled
WAUZZZ8V0KA000201;2026-02-14;18.200;R-1002;1.120,00;EUR;Brake pads front;8V0698151*1;MUC;repair
WAUZZZ8V0KA000201;31.02.2026;18.900;R-1003;10,00;EUR;;;MUC;repair
WAUZZZ8V0KA099999;2026-03-01;100;R-1004;10,00;EUR;;;MUC;repair
WAUZZZ8V0KA000201;2026-03-01;19.000;R-1005;10,00;EUR;;;NOWHERE;repair
WAUZZZ8V0KA000201;2026-03-02;19.100;R-1006;12,00;EUR;Wiper blades;;;service
"""


def test_a_dms_csv_export_imports_good_lines_reports_bad_ones_and_reimports_nothing_twice(settings: Settings) -> None:
    async def scenario(api: Api) -> None:
        dealer, (ada,) = await dealer_with_customers(api, "S1", "Ada Kurz")
        await created(
            api.post(f"/dealers/{dealer}/branches", json={"code": "MUC", "name": "Munich", "city": "München"})
        )
        await created(api.post("/vehicles", json=vehicle("WAUZZZ8V0KA000201", dealer, ada)))
        url = f"/dealers/{dealer}/services/import"
        first = await api.post(url, content=DMS_EXPORT.encode(), headers={"Content-Type": "text/csv"})
        assert first.status_code == 200, first.text
        result = first.json()
        assert (result["imported"], result["already_recorded"]) == (2, 0)
        errors = {e["line"]: e["error"] for e in result["errors"]}
        assert set(errors) == {4, 5, 6, 7}
        assert "31.02.2026" in errors[4]
        assert "not registered" in errors[5]
        assert "NOWHERE" in errors[6]
        assert "service" in errors[7]

        again = (await api.post(url, content=DMS_EXPORT.encode(), headers={"Content-Type": "text/csv"})).json()
        assert (again["imported"], again["already_recorded"]) == (0, 2)

        history = (await api.get("/vehicles/WAUZZZ8V0KA000201/services")).json()
        assert [s["invoice_number"] for s in history] == ["R-1002", "R-1001"]
        oil = history[1]
        assert oil["odometer_km"] == 15040
        assert oil["amount"] == "289.90"
        assert oil["operations"] == ["Oil change", "Inspection"]
        assert oil["parts"] == [{"number": "04E115561H", "description": None, "quantity": 1.0},
                                {"number": "5W30", "description": None, "quantity": 4.5}]  # fmt: skip
        assert oil["performed_at"].startswith("2025-11-03")
        branches = (await api.get(f"/dealers/{dealer}/branches")).json()
        assert oil["branch_id"] == branches[0]["id"]

        no_vin = await api.post(url, content=b"date,km\n2026-01-01,5\n", headers={"Content-Type": "text/csv"})
        assert no_vin.status_code == 422
        assert "vin" in no_vin.json()["detail"]
        assert "invoice_number" in no_vin.json()["detail"]
        binary = await api.post(url, content=b"\xff\xfe\x00garbage", headers={"Content-Type": "text/csv"})
        assert binary.status_code == 422

    run(settings, scenario)


def test_a_recall_stays_open_on_the_vehicles_it_concerns_until_a_visit_carries_it_out(settings: Settings) -> None:
    async def scenario(api: Api) -> None:
        dealer, (ada,) = await dealer_with_customers(api, "R1", "Ada Roth")
        await created(api.post("/vehicles", json=vehicle("WAUZZZ8V0KA000301", dealer, ada)))
        await created(api.post("/vehicles", json={**vehicle("WAUZZZ8V0KA000302", dealer), "model_year": 2019}))
        await created(api.post("/vehicles", json={**vehicle("WAUZZZ8V0KA000303", dealer), "model": "City EV",
                                                  "powertrain": "electric"}))  # fmt: skip
        by_model = {"code": "24V-101", "title": "Fuel pump relay", "make": "Aurora", "models": ["Compact 1.5"],
                    "model_year_from": 2020, "model_year_to": 2024, "issued_on": "2026-05-01"}  # fmt: skip
        recall = await created(api.post("/recalls", json=by_model))
        assert (recall["vehicles"], recall["done"]) == (1, 0)  # not the 2019 car, not the EV
        by_vin = {"code": "24V-202", "title": "Seat belt", "issued_on": "2026-06-01", "vins": ["WAUZZZ8V0KA000303"]}
        await created(api.post("/recalls", json=by_vin))
        assert (await api.post("/recalls", json=by_model)).status_code == 409
        assert (
            await api.post("/recalls", json={"code": "X", "title": "x", "issued_on": "2026-01-01"})
        ).status_code == 422

        assert [r["code"] for r in (await api.get("/vehicles/WAUZZZ8V0KA000301/recalls")).json()] == ["24V-101"]
        assert [r["code"] for r in (await api.get("/vehicles/WAUZZZ8V0KA000303/recalls")).json()] == ["24V-202"]
        assert (await api.get("/vehicles/WAUZZZ8V0KA000302/recalls")).json() == []
        view = (await api.get(f"/customers/{ada}")).json()
        assert [r["code"] for r in view["vehicles"][0]["open_recalls"]] == ["24V-101"]

        visit = {"performed_at": "2026-06-10T09:00:00+02:00", "odometer_km": 21000, "kind": "recall",
                 "recall_code": "24V-101", "dealer_id": dealer}  # fmt: skip
        recorded = await created(api.post("/vehicles/WAUZZZ8V0KA000301/services", json=visit))
        assert recorded["recall_code"] == "24V-101"  # the visit shows which recall it carried out
        history = (await api.get("/vehicles/WAUZZZ8V0KA000301/services")).json()
        assert [(v["recall_code"], v["recall_id"]) for v in history] == [("24V-101", recorded["recall_id"])]
        assert (await api.get("/vehicles/WAUZZZ8V0KA000301/recalls")).json() == []
        status = (await api.get("/recalls/24V-101")).json()
        assert (status["vehicles"], status["done"]) == (1, 1)
        unknown = await api.post("/vehicles/WAUZZZ8V0KA000301/services", json={**visit, "recall_code": "NOPE"})
        assert unknown.status_code == 404
        advisor = {"Authorization": f"Bearer {make_key(settings, 'advisor', dealer)}"}
        assert (await api.post("/recalls", json={**by_vin, "code": "Y"}, headers=advisor)).status_code == 403

    run(settings, scenario)
