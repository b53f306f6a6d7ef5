"""Contact pressure and "who to call today": each rule as a pure function, then the ranked list a
dealer's advisor gets, with the reasons and the rules that allow or hold back each call."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from crm.contact_pressure import Facts, Policy, allowed, evaluate
from telemetry.settings import Settings
from telemetry.storage import alerts, incidents
from telemetry.storage.db import connect
from tests.test_customer_records import Api, created, run, vehicle

TODAY = date(2026, 11, 22)


def facts(**changes: object) -> Facts:
    values: dict[str, object] = {
        "today": TODAY,
        "consents": frozenset({"maintenance_alerts", "marketing"}),
        "last_service_on": None,
        "household_marketing_on": (),
        "last_contact_on": None,
        **changes,
    }
    return Facts(**values)  # type: ignore[arg-type]


def verdicts(purpose: str, policy: Policy | None = None, **changes: object) -> dict[str, tuple[bool, str]]:
    return {v.rule: (v.passed, v.explanation) for v in evaluate(purpose, facts(**changes), policy or Policy())}


def test_safety_is_always_allowed_whatever_else_holds() -> None:
    found = evaluate("safety", facts(consents=frozenset(), last_service_on=TODAY, last_contact_on=TODAY), Policy())
    assert allowed(found)
    assert [v.rule for v in found] == ["safety_always"]


def test_no_service_offer_within_30_days_after_a_visit() -> None:
    held = verdicts("service", last_service_on=TODAY - timedelta(days=29))
    assert held["quiet_after_service"] == (
        False,
        "serviced on 2026-10-24: no service offer before 2026-11-23 (30 days)",
    )
    assert verdicts("service", last_service_on=TODAY - timedelta(days=30))["quiet_after_service"][0]
    assert verdicts("service", Policy(quiet_after_service_days=10), last_service_on=TODAY - timedelta(days=12))[
        "quiet_after_service"
    ][0]


def test_service_offers_from_vehicle_data_need_the_maintenance_consent() -> None:
    assert verdicts("service", consents=frozenset({"marketing"}))["maintenance_consent"] == (
        False,
        "no consent to maintenance alerts from vehicle data",
    )


def test_marketing_needs_consent_and_at_most_one_contact_per_quarter_in_the_household() -> None:
    assert verdicts("marketing", consents=frozenset({"maintenance_alerts"}))["marketing_consent"][0] is False
    mate_called = (TODAY - timedelta(days=40),)
    passed, why = verdicts("marketing", household_marketing_on=mate_called)["marketing_per_quarter"]
    assert not passed
    assert "next from 2027-01-12" in why
    long_ago = (TODAY - timedelta(days=91),)
    assert verdicts("marketing", household_marketing_on=long_ago)["marketing_per_quarter"][0]
    two_allowed = Policy(marketing_max=2)
    assert verdicts("marketing", two_allowed, household_marketing_on=mate_called)["marketing_per_quarter"][0]
    two = (TODAY - timedelta(days=10), TODAY - timedelta(days=60))
    passed, why = verdicts("marketing", two_allowed, household_marketing_on=two)["marketing_per_quarter"]
    assert not passed
    assert "next from 2026-12-23" in why  # when the older of the two leaves the window


def test_no_new_contact_about_a_vehicle_within_a_week_unless_safety() -> None:
    held = verdicts("service", last_contact_on=TODAY - timedelta(days=3))
    assert held["not_again_so_soon"] == (False, "contacted about this vehicle on 2026-11-19; again from 2026-11-26")
    assert not allowed(evaluate("marketing", facts(last_contact_on=TODAY), Policy()))
    with pytest.raises(ValueError, match="unknown purpose"):
        evaluate("gossip", facts(), Policy())


def test_who_to_call_today_ranks_allowed_calls_and_explains_what_is_held_back(settings: Settings) -> None:
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)

    async def scenario(api: Api) -> None:
        dealer = (await created(api.post("/dealers", json={"code": "W", "name": "W"})))["id"]

        async def customer(name: str, *purposes: str) -> int:
            body = {"name": name, "email": f"{name.lower().replace(' ', '.')}@example.com", "dealer_id": dealer}
            cid = (await created(api.post("/customers", json=body)))["id"]
            for p in purposes:
                await created(
                    api.post(f"/customers/{cid}/consents", json={"purpose": p, "granted": True, "source": "web"})
                )
            return cid

        hot = await customer("Hana Hot")  # no consent at all
        soft = await customer("Sven Soft", "maintenance_alerts")
        due = await customer("Dora Due", "maintenance_alerts")
        mate = await customer("Mia Mate", "marketing")
        ending = await customer("Max Mate", "marketing")
        free = await customer("Fritz Free", "marketing")
        recalled = await customer("Rita Recall")
        cars = {
            "hot": "WAUZZZ8V0KA000501", "soft": "WAUZZZ8V0KA000502", "due": "WAUZZZ8V0KA000503",
            "ending": "WAUZZZ8V0KA000504", "free": "WAUZZZ8V0KA000505", "recalled": "WAUZZZ8V0KA000506",
        }  # fmt: skip
        warranty = {"warranty_start": str(today - timedelta(days=700)), "warranty_end": str(today + timedelta(days=30))}
        owners = {"hot": hot, "soft": soft, "due": due, "ending": ending, "free": free, "recalled": recalled}
        ids = {}
        for key, vin in cars.items():
            extra = warranty if key in ("ending", "free") else {}
            ids[key] = (await created(api.post("/vehicles", json=vehicle(vin, dealer, owners[key], **extra))))["id"]
        await created(api.post("/households", json={"name": "Mate", "dealer_id": dealer, "members": [
            {"customer_id": mate, "role": "owner"}, {"customer_id": ending, "role": "driver"}]}))  # fmt: skip
        await created(api.post(f"/customers/{mate}/contacts", json={
            "channel": "phone", "purpose": "marketing", "outcome": "reached", "by": "eve",
            "contacted_at": (now - timedelta(days=20)).isoformat()}))  # fmt: skip
        for key in ("hot", "soft"):
            visit = {"performed_at": (now - timedelta(days=5)).isoformat(), "odometer_km": 1000, "kind": "repair"}
            await created(api.post(f"/vehicles/{cars[key]}/services", json=visit))
        await created(api.post("/recalls", json={"code": "R-9", "title": "Airbag", "issued_on": str(today),
                                                 "vins": [cars["recalled"]]}))  # fmt: skip
        async with await connect(settings) as conn:
            for key, rule, severity, kind, system in (
                    ("hot", "coolant_overtemp", "critical", "threshold", "cooling"),
                    ("soft", "tyre_low_front_left", "warning", "threshold", "tyres"),
                    ("due", "maintenance_plan", "info", "service_plan", "service")):  # fmt: skip
                firing = alerts.Firing(ids[key], rule, 1, severity, rule, rule, now, now, None, {}, kind, system)
                alert_id = await alerts.fire(conn, firing, reopen_within=timedelta(0))
                await incidents.attach(conn, alert_id=alert_id, reopen_within=timedelta(0))
            await conn.commit()

        url = f"/dealers/{dealer}/recommendations"
        calls = (await api.get(url)).json()
        # safety first, then service, then marketing; the recall (issued today) is due before the alert (in a day)
        ranked = [("recalled", "safety"), ("hot", "safety"), ("due", "service"), ("free", "marketing")]
        assert [(c["vin"], c["purpose"]) for c in calls] == [(cars[k], p) for k, p in ranked]
        assert calls[1]["reasons"][0]["summary"] == "critical alert: Cooling system: coolant_overtemp (open)"
        why = "safety-critical: contact pressure does not hold it back"
        assert calls[1]["rules"] == [{"rule": "safety_always", "passed": True, "explanation": why}]
        assert calls[0]["reasons"][0]["summary"] == "open recall R-9: Airbag"
        assert "offer an extended warranty" in calls[3]["reasons"][0]["summary"]

        everything = {c["vin"]: c for c in (await api.get(url, params={"include_blocked": "true"})).json()}
        soft_call = everything[cars["soft"]]
        assert not soft_call["allowed"]
        assert [r["rule"] for r in soft_call["rules"] if not r["passed"]] == ["quiet_after_service"]
        ending_call = everything[cars["ending"]]
        assert [r["rule"] for r in ending_call["rules"] if not r["passed"]] == ["marketing_per_quarter"]

        call = {"channel": "phone", "purpose": "service", "outcome": "booked", "by": "eve"}
        logged = await created(api.post(f"/customers/{due}/contacts", json={**call, "vin": cars["due"]}))
        assert logged["vin"] == cars["due"]
        assert cars["due"] not in [c["vin"] for c in (await api.get(url)).json()]  # called today: not again
        timeline = (await api.get(f"/customers/{due}")).json()["timeline"]
        assert timeline[0]["kind"] == "contact"
        assert timeline[0]["summary"] == "service contact by phone (eve): booked"
        wrong = await api.post(f"/customers/{due}/contacts", json={**call, "vin": cars["hot"]})
        assert wrong.status_code == 422

    run(settings, scenario)
