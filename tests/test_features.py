"""Software options end to end, through the real server and broker: a simulated vehicle receives
a signed activation and acknowledges it, the entitlement becomes active; the trial expires and the
vehicle receives the disable command; a forged command is rejected by the vehicle; an ineligible
vehicle gets a 409 with the reason; a vehicle offline at activation gets the command again when it
comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import psycopg
import pytest
from pydantic import SecretStr

from commands.signing import sign, vehicle_key
from crm import entitlements, records
from crm.features import add_months
from telemetry.mqtt import make_client
from telemetry.storage.db import connect
from telemetry.storage.migrate import upgrade
from telemetry.timeutil import now_ms
from telemetry.topics import COMMAND_ACKS, COMMANDS, vehicle_topic
from tests.fix_server import Server, serving, wait_for
from tests.fix_services import make_key, make_settings
from tests.fix_vehicles import HEATED_SEATS, SimulatedVehicle
from tests.fix_webhooks import receiving
from tests.test_end_to_end import publish

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(database_url: str, mqtt_url: str) -> Iterator[Server]:
    """Commands time out after 1 s here, and retry by the clock only after 10 min: a resend in the
    test comes from the vehicle being seen online again."""
    settings = make_settings(database_url, mqtt_url, command_ack_timeout_s=1.0, command_retry_base_s=600.0)
    with serving(settings) as running:
        yield running


@pytest.fixture(autouse=True)
def _vehicles_offline_after_each_test() -> Iterator[None]:
    yield
    SimulatedVehicle.take_all_offline()


def register(server: Server, vin: str, dealer: int, **extra: object) -> None:
    body = {"vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2025, "powertrain": "combustion",
            "dealer_id": dealer, "software_version": "2.1", "hardware": ["seat_heaters"], **extra}  # fmt: skip
    response = server.api.post("/vehicles", json=body)
    assert response.status_code == 201, response.text


def option(server: Server, vin: str, code: str = "heated_seats") -> dict:
    return next(e for e in server.api.get(f"/vehicles/{vin}/features").json() if e["feature_code"] == code)


def test_a_trial_is_activated_acknowledged_and_switched_off_when_it_expires(server: Server) -> None:
    api = server.api
    assert api.post("/features", json=HEATED_SEATS).status_code == 201
    dealer = api.post("/dealers", json={"code": "F1", "name": "F1"}).json()["id"]
    owner = api.post("/customers", json={"name": "Olga Option", "dealer_id": dealer}).json()["id"]
    vin = "WAUZZZ8V0KA000601"
    register(server, vin, dealer, owner_customer_id=owner)
    with receiving(fail_first=0) as crm:
        hook = api.post("/webhooks", json={"url": crm.url, "event_types": ["activation"]}).json()
        car = SimulatedVehicle(server.settings, vin)
        car.start()
        assert car.ready.wait(20)

        headers = {"Idempotency-Key": "order-4711"}
        url = f"/vehicles/{vin}/features/heated_seats/activations"
        first = api.post(url, json={"kind": "trial"}, headers=headers)
        assert first.status_code == 202, first.text
        assert first.json()["state"] == "pending"
        again = api.post(url, json={"kind": "trial"}, headers=headers)
        assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])  # the same activation
        assert api.post(url, json={"kind": "subscription"}, headers=headers).status_code == 409  # key reused

        assert wait_for(lambda: option(server, vin)["state"] == "active", timeout=30)
        command = car.received[0]
        assert (command["feature"], command["action"]) == ("heated_seats", "enable")
        assert command["expires"] is not None  # the vehicle itself knows when the trial ends
        assert car.enabled() == {"heated_seats": command["expires"]}
        assert option(server, vin)["last_command"]["state"] == "accepted"

        # the trial's time is up (moved forward here rather than waiting 30 days)
        with psycopg.connect(server.settings.require_database_url()) as conn:
            conn.execute(
                f"UPDATE {server.settings.database_schema}.entitlements SET ends_at = now() WHERE id = %s",
                (first.json()["id"],),
            )
        assert wait_for(lambda: car.enabled() == {}, timeout=30)
        assert car.received[-1]["action"] == "disable"
        ended = wait_for(lambda: (e := option(server, vin))["last_command"]["state"] == "accepted" and e)
        assert (ended["state"], ended["ended_reason"]) == ("ended", "the trial ran out")

        detail = api.get(f"/vehicles/{vin}/entitlements/{first.json()['id']}").json()
        events = [e["event"] for e in detail["events"]]
        assert events == ["requested", "sent", "active", "expired", "sent", "switched_off"]
        timeline = api.get(f"/customers/{owner}").json()["timeline"]
        newest = next(t["summary"] for t in timeline if t["kind"] == "activation")
        assert newest.startswith("heated_seats switched_off")

        def crm_events() -> list[str]:
            return [e["type"] for e in crm.unique_events() if e["vehicle"]["vin"] == vin]

        assert wait_for(lambda: len(crm_events()) == 6, timeout=30)
        assert crm_events()[:3] == ["activation.requested", "activation.sent", "activation.active"]
        assert "activation.expired" in crm_events()
        assert api.delete(f"/webhooks/{hook['id']}").status_code == 204

    retrial = api.post(url, json={"kind": "trial"})
    assert retrial.status_code == 409
    assert retrial.json()["reason"] == "the vehicle has had its trial of heated_seats already"


def test_ineligible_vehicles_get_409_with_the_reason(server: Server) -> None:
    api = server.api
    dealer = api.post("/dealers", json={"code": "F2", "name": "F2"}).json()["id"]
    if api.post("/features", json=HEATED_SEATS).status_code not in (201, 409):
        pytest.fail("could not create the feature")
    cases = {
        "WAUZZZ8V0KA000611": ({"software_version": "1.9"},
                              "heated_seats needs software 2.0 or newer; the vehicle runs 1.9"),
        "WAUZZZ8V0KA000612": ({"hardware": []}, "heated_seats needs hardware the vehicle lacks: seat_heaters"),
        "WAUZZZ8V0KA000613": ({"model": "City EV", "powertrain": "electric"},
                              "heated_seats is not offered for the City EV (only Compact 1.5)"),
    }  # fmt: skip
    for vin, (extra, reason) in cases.items():
        register(server, vin, dealer, **extra)
        refused = api.post(f"/vehicles/{vin}/features/heated_seats/activations", json={"kind": "trial"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["reason"] == reason
    vin = "WAUZZZ8V0KA000614"
    register(server, vin, dealer)
    one_off = api.post(f"/vehicles/{vin}/features/heated_seats/activations", json={"kind": "purchase"})
    assert one_off.json()["reason"] == "heated_seats is sold as a monthly subscription, not as a one-off purchase"
    advisor = {"Authorization": f"Bearer {make_key(server.settings, 'advisor', dealer)}"}
    bought = api.post(f"/vehicles/{vin}/features/heated_seats/activations", json={"kind": "subscription"},
                      headers=advisor)  # fmt: skip
    assert bought.status_code == 403  # advisors start trials only
    unknown = api.post(f"/vehicles/{vin}/features/warp_drive/activations", json={"kind": "trial"})
    assert unknown.status_code == 404


def test_a_forged_command_is_rejected_by_the_vehicle_and_its_ack_recorded_and_ignored(server: Server) -> None:
    dealer = server.api.post("/dealers", json={"code": "F3", "name": "F3"}).json()["id"]
    vin = "WAUZZZ8V0KA000621"
    register(server, vin, dealer)
    car = SimulatedVehicle(server.settings, vin)
    car.start()
    assert car.ready.wait(20)
    forged = sign({"id": "cmd-forged", "feature": "heated_seats", "action": "enable", "expires": None},
                  vehicle_key(b"not the server's secret", vin))  # fmt: skip

    async def send() -> None:
        async with make_client(server.settings.require_mqtt_url(), f"{server.settings.mqtt_client_id}-forger",
                               persistent=False) as client:  # fmt: skip
            topic = vehicle_topic(server.settings.mqtt_topic_prefix, vin, COMMANDS)
            await client.publish(topic, orjson.dumps(forged), qos=1)

    asyncio.run(send())
    assert wait_for(lambda: car.received, timeout=20)
    assert car.enabled() == {}  # not applied
    reply = car.responder.state.answers.get((vin, "cmd-forged"))
    assert reply is None  # refused, so never recorded as an accepted answer

    def recorded() -> list[dict]:
        with psycopg.connect(server.settings.require_database_url()) as conn:
            rows = conn.execute(
                f"SELECT command_id, status, reason, outcome FROM {server.settings.database_schema}.command_acks"
                " WHERE vin = %s",
                (vin,),
            ).fetchall()
        return [dict(zip(("command_id", "status", "reason", "outcome"), r, strict=True)) for r in rows]

    acks = wait_for(recorded, timeout=20)
    assert acks == [{"command_id": "cmd-forged", "status": "rejected", "reason": "bad signature",
                     "outcome": "ignored: unknown command"}]  # fmt: skip


def test_a_vehicle_offline_at_activation_gets_the_command_when_it_is_back(server: Server) -> None:
    api = server.api
    dealer = api.post("/dealers", json={"code": "F4", "name": "F4"}).json()["id"]
    if api.post("/features", json=HEATED_SEATS).status_code not in (201, 409):
        pytest.fail("could not create the feature")
    vin = "WAUZZZ8V0KA000631"
    register(server, vin, dealer)
    started = api.post(f"/vehicles/{vin}/features/heated_seats/activations", json={"kind": "trial"})
    assert started.status_code == 202
    assert wait_for(lambda: option(server, vin)["last_command"]["state"] == "timed_out", timeout=20)
    assert option(server, vin)["state"] == "pending"

    car = SimulatedVehicle(server.settings, vin)
    car.start()
    assert car.ready.wait(20)
    sample = {"vin": vin, "seq": 1, "samples": [{"ts": now_ms(), "signals": {"Vehicle.Speed": 12.0}}]}
    publish(server, vin, [orjson.dumps(sample)])  # back online
    assert wait_for(lambda: option(server, vin)["state"] == "active", timeout=30)
    assert option(server, vin)["last_command"]["attempts"] == 2
    events = [e["event"] for e in api.get(f"/vehicles/{vin}/entitlements/{started.json()['id']}").json()["events"]]
    assert events == ["requested", "sent", "timed_out", "resent", "active"]


def test_frequent_cold_starts_become_a_heated_seats_offer_and_a_trial_in_one_call(server: Server) -> None:
    api = server.api
    if api.post("/features", json=HEATED_SEATS).status_code not in (201, 409):
        pytest.fail("could not create the feature")
    dealer = api.post("/dealers", json={"code": "F5", "name": "F5"}).json()["id"]
    owner = api.post("/customers", json={"name": "Frida Frost", "dealer_id": dealer}).json()["id"]
    consent = {"purpose": "marketing", "granted": True, "source": "app"}
    assert api.post(f"/customers/{owner}/consents", json=consent).status_code == 201
    vin = "WAUZZZ8V0KA000641"
    register(server, vin, dealer, owner_customer_id=owner)
    running = "Vehicle.Powertrain.CombustionEngine.IsRunning"
    day, minute = 86_400_000, 60_000
    start = now_ms() - 9 * day
    samples = []
    for d in range(8):  # a winter week and a day: one cold start each morning
        t0 = start + d * day
        for offset, on in ((0, False), (minute, True), (30 * minute, True), (31 * minute, False)):
            samples.append({"ts": t0 + offset, "signals": {running: on, "Vehicle.Exterior.AirTemperature": -6.5}})
    publish(server, vin, [orjson.dumps({"vin": vin, "seq": 1, "samples": samples})])

    offers = wait_for(lambda: api.get(f"/vehicles/{vin}/offers").json(), timeout=30)
    assert [(o["feature_code"], o["state"], o["rule_id"]) for o in offers] == [
        ("heated_seats", "open", "offer_cold_starts")
    ]
    assert offers[0]["reason"].startswith("8 engine starts below 0 °C within 30 days")
    assert api.get(f"/customers/{owner}").json()["vehicles"][0]["offers"][0]["id"] == offers[0]["id"]

    calls = api.get(f"/dealers/{dealer}/recommendations").json()
    (call,) = [c for c in calls if c["vin"] == vin]
    assert call["purpose"] == "marketing"
    assert call["reasons"][0]["offer_id"] == offers[0]["id"]
    assert call["reasons"][0]["summary"].startswith("offer a heated_seats trial: 8 engine starts")

    advisor = {"Authorization": f"Bearer {make_key(server.settings, 'advisor', dealer)}"}
    trial = api.post(f"/offers/{offers[0]['id']}/trial", headers=advisor)
    assert trial.status_code == 202, trial.text
    assert (trial.json()["offer"]["state"], trial.json()["entitlement"]["kind"]) == ("accepted", "trial")
    assert trial.json()["entitlement"]["state"] == "pending"  # the car is not online in this test
    assert api.post(f"/offers/{offers[0]['id']}/trial", headers=advisor).status_code == 409
    assert [c["vin"] for c in api.get(f"/dealers/{dealer}/recommendations").json()] == []  # offered: done


def test_the_software_version_a_vehicle_reports_in_its_telemetry_makes_it_eligible(server: Server) -> None:
    api = server.api
    if api.post("/features", json=HEATED_SEATS).status_code not in (201, 409):
        pytest.fail("could not create the feature")
    dealer = api.post("/dealers", json={"code": "F6", "name": "F6"}).json()["id"]
    vin = "WAUZZZ8V0KA000651"
    register(server, vin, dealer, software_version="1.9")
    url = f"/vehicles/{vin}/features/heated_seats/activations"
    assert api.post(url, json={"kind": "trial"}).status_code == 409
    update = {"vin": vin, "software_version": "2.10", "samples": [{"ts": now_ms(), "signals": {"Vehicle.Speed": 0.0}}]}
    publish(server, vin, [orjson.dumps(update)])  # the car updated over the air and says so
    assert wait_for(lambda: api.get(f"/vehicles/{vin}").json()["software_version"] == "2.10", timeout=20)
    assert api.post(url, json={"kind": "trial"}).status_code == 202


def test_a_subscription_is_renewed_by_whole_months_and_deactivated(server: Server) -> None:
    api = server.api
    if api.post("/features", json=HEATED_SEATS).status_code not in (201, 409):
        pytest.fail("could not create the feature")
    dealer = api.post("/dealers", json={"code": "F7", "name": "F7"}).json()["id"]
    vin = "WAUZZZ8V0KA000661"
    register(server, vin, dealer)
    bought = api.post(f"/vehicles/{vin}/features/heated_seats/activations", json={"kind": "subscription", "periods": 1,
                      "purchase_reference": "SHOP-991"})  # fmt: skip
    assert bought.status_code == 202, bought.text
    start, end = (datetime.fromisoformat(bought.json()[k]) for k in ("starts_at", "ends_at"))
    assert end.date() == add_months(start, 1).date()
    renewed = api.post(f"/vehicles/{vin}/features/heated_seats/renewals", json={"periods": 2})
    assert renewed.status_code == 200, renewed.text
    assert datetime.fromisoformat(renewed.json()["ends_at"]).date() == add_months(start, 3).date()
    commands = api.get(f"/vehicles/{vin}/commands").json()
    assert (commands[0]["action"], commands[0]["state"] in ("pending", "sent", "timed_out")) == ("enable", True)
    assert commands[1]["state"] == "superseded"  # the first enable, replaced by the one carrying the new expiry
    stopped = api.post(f"/vehicles/{vin}/features/heated_seats/deactivations", json={"reason": "refunded"})
    assert (stopped.json()["state"], stopped.json()["ended_reason"]) == ("ended", "refunded")
    assert api.get(f"/vehicles/{vin}/commands").json()[0]["action"] == "disable"
    again = api.post(f"/vehicles/{vin}/features/heated_seats/renewals", json={"periods": 1})
    assert again.status_code == 404  # nothing live to renew


def test_commands_queued_while_no_dispatcher_runs_go_out_when_the_server_starts(
    database_url: str, mqtt_url: str
) -> None:
    settings = make_settings(database_url, mqtt_url)
    vin = "WAUZZZ8V0KA000671"

    async def queue_while_down() -> int:
        await upgrade(settings)
        async with await connect(settings) as conn:
            await entitlements.create_feature(conn, **{**HEATED_SEATS, "price": None})
            vehicle = await records.create_vehicle(conn, vin=vin, make="Aurora", model="Compact 1.5", model_year=2025,
                                                   powertrain="combustion", software_version="2.1",
                                                   hardware=["seat_heaters"])  # fmt: skip
            granted = await entitlements.grant(
                conn,
                vehicle_id=vehicle.id,
                feature_code="heated_seats",
                kind="trial",
                by="test",
                dealer_id=None,
                purchase_reference=None,
                starts_at=datetime.now(UTC),
                ends_at=None,
                idempotency_key=None,
            )
            await conn.commit()
            return granted.id

    entitlement_id = asyncio.run(queue_while_down())
    car = SimulatedVehicle(settings, vin)  # online, waiting, while no server runs
    car.start()
    assert car.ready.wait(20)
    with serving(settings) as running:
        assert wait_for(lambda: option(running, vin)["state"] == "active", timeout=30)
        assert option(running, vin)["id"] == entitlement_id
        assert car.enabled() == {"heated_seats": None}


def test_a_vehicle_that_refuses_fails_the_entitlement_with_its_reason_and_a_late_ack_is_ignored(
    server: Server,
) -> None:
    api = server.api
    if api.post("/features", json=HEATED_SEATS).status_code not in (201, 409):
        pytest.fail("could not create the feature")
    dealer = api.post("/dealers", json={"code": "F8", "name": "F8"}).json()["id"]
    vin = "WAUZZZ8V0KA000681"
    register(server, vin, dealer)
    provisioned_wrong = server.settings.model_copy(update={"command_secret": SecretStr("another factory key")})
    car = SimulatedVehicle(provisioned_wrong, vin)  # its key does not match the server's
    car.start()
    assert car.ready.wait(20)
    started = api.post(f"/vehicles/{vin}/features/heated_seats/activations", json={"kind": "trial"}).json()
    failed = wait_for(lambda: (e := option(server, vin))["state"] == "failed" and e, timeout=30)
    assert failed["ended_reason"] == "bad signature"
    assert failed["last_command"]["reason"] == "bad signature"

    late = {"id": failed["last_command"]["id"], "status": "accepted", "reason": None, "ts": now_ms()}

    async def send_late_ack() -> None:
        async with make_client(server.settings.require_mqtt_url(), f"{server.settings.mqtt_client_id}-late",
                               persistent=False) as client:  # fmt: skip
            topic = vehicle_topic(server.settings.mqtt_topic_prefix, vin, COMMAND_ACKS)
            await client.publish(topic, orjson.dumps(late), qos=1)

    asyncio.run(send_late_ack())
    with psycopg.connect(server.settings.require_database_url()) as conn:
        query = f"SELECT outcome FROM {server.settings.database_schema}.command_acks WHERE vin = %s ORDER BY id"
        outcomes = wait_for(lambda: (rows := conn.execute(query, (vin,)).fetchall()) and len(rows) == 2 and rows)
    assert [o for (o,) in outcomes] == ["applied", "ignored: command rejected already"]
    assert option(server, vin)["state"] == "failed"  # the late ack changed nothing
    events = [e["event"] for e in api.get(f"/vehicles/{vin}/entitlements/{started['id']}").json()["events"]]
    assert events == ["requested", "sent", "failed"]
