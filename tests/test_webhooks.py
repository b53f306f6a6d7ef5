"""CRM webhooks: a real HTTP receiver that fails the first attempts gets every event exactly
once after deduplicating on the event id, in order per vehicle, signed; what keeps failing goes
to the dead-letter list and can be redelivered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from telemetry.settings import Settings
from telemetry.storage import alerts
from telemetry.storage.db import connect, connect_sync
from tests.fix_services import add_vehicle, api_client
from tests.fix_webhooks import receiving
from webhooks import outbox, targets
from webhooks.sender import Sender, retry_delay
from webhooks.signature import HEADER, verify

VINS = ["WHKAAAAAAAAAAAAA1", "WHKBBBBBBBBBBBBB2", "WHKCCCCCCCCCCCCC3"]


def fast_retries(settings: Settings, **overrides: float) -> Settings:
    values = {"webhook_backoff_base_s": 0.05, "webhook_backoff_cap_s": 0.3, "webhook_timeout_s": 5.0, **overrides}
    return settings.model_copy(update=values)


def firing(vehicle_id: int, rule: str, at: datetime) -> alerts.Firing:
    return alerts.Firing(vehicle_id, rule, 1, "warning", rule, f"{rule} fired", at, at, 1.0, {}, "threshold")


async def alert_changes(settings: Settings) -> list[tuple[str, str]]:
    """Per vehicle: open, acknowledge and resolve an alert, and open a second one, each change in a
    transaction of its own; the (vin, event type) in the order they were committed."""
    expected: list[tuple[str, str]] = []
    async with await connect(settings) as conn:
        ids = [await add_vehicle(conn, vin) for vin in VINS]
        now = datetime.now(UTC)
        for vid, vin in zip(ids, VINS, strict=True):
            alert_id = await alerts.fire(conn, firing(vid, "coolant_overtemp", now), reopen_within=timedelta(0))
            await conn.commit()
            await alerts.acknowledge(conn, alert_id=alert_id, by="anna", note=None)
            await conn.commit()
            await alerts.resolve(conn, alert_id=alert_id, by="anna", resolution="booked", note=None)
            await conn.commit()
            await alerts.fire(conn, firing(vid, "tyre_low_front_left", now), reopen_within=timedelta(0))
            await conn.commit()
            expected += [(vin, f"alert.{c}") for c in ("opened", "acknowledged", "resolved", "opened")]
    return expected


async def run_sender_until(settings: Settings, done: Callable[[], object], within: float = 30.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(Sender(settings).run(stop))
    deadline = time.monotonic() + within
    try:
        while not done():
            if time.monotonic() > deadline or task.done():
                pytest.fail(f"not delivered within {within} s (sender {'stopped' if task.done() else 'running'})")
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_every_event_arrives_once_after_dedup_in_order_per_vehicle_and_signed(settings: Settings) -> None:
    settings = fast_retries(settings)

    async def scenario() -> None:
        with receiving(fail_first=2) as receiver:
            async with api_client(settings) as api:
                created = await api.post("/webhooks", json={"url": receiver.url, "event_types": ["alert"]})
                assert created.status_code == 201, created.text
                secret = created.json()["secret"]
                expected = await alert_changes(settings)

                await run_sender_until(settings, lambda: len(receiver.requests) >= 3 * len(expected))
                await asyncio.sleep(0.5)  # time for a repeat that should not come
                events = receiver.unique_events()
                assert len(events) == len(expected)  # none lost
                assert len(receiver.requests) == 3 * len(expected)  # two failures, then success, then no more
                for vin in VINS:
                    mine = [e["type"] for e in events if e["vehicle"]["vin"] == vin]
                    assert mine == [t for v, t in expected if v == vin]  # per-vehicle order kept
                for body, raw, headers in receiver.requests:
                    assert verify(secret, headers[HEADER], raw, now=time.time())
                    assert headers["Idempotency-Key"] == body["id"]
                    assert not verify("another secret, not ours", headers[HEADER], raw, now=time.time())
                resolved = next(e for e in events if e["type"] == "alert.resolved")
                assert resolved["data"]["resolution"] == "booked"
                assert resolved["data"]["by"] == "anna"

                listed = (await api.get("/webhooks")).json()
                assert listed[0]["pending"] == 0
                assert listed[0]["dead"] == 0
                assert "secret" not in listed[0]

    asyncio.run(scenario())


def test_failing_deliveries_go_dead_and_are_redelivered_on_request(settings: Settings) -> None:
    settings = fast_retries(settings, webhook_give_up_after_s=0.5)

    async def scenario() -> None:
        with receiving(fail_first=10**6) as down:
            async with api_client(settings) as api:
                endpoint = (await api.post("/webhooks", json={"url": down.url, "event_types": ["alert"]})).json()
                dead_url = f"/webhooks/{endpoint['id']}/deliveries?state=dead"
                async with await connect(settings) as conn:
                    vid = await add_vehicle(conn, VINS[0])
                    await alerts.fire(
                        conn, firing(vid, "coolant_overtemp", datetime.now(UTC)), reopen_within=timedelta(0)
                    )
                    await conn.commit()

                async def dead() -> list[dict]:
                    return (await api.get(dead_url)).json()

                stop = asyncio.Event()
                task = asyncio.create_task(Sender(settings).run(stop))
                for _ in range(100):
                    got = await dead()
                    if got:
                        break
                    await asyncio.sleep(0.1)
                assert len(got) == 1, "the failing delivery was not dead-lettered"
                assert got[0]["attempts"] >= 1
                assert got[0]["last_status"] == 500
                attempts_when_dead = len(down.requests)
                await asyncio.sleep(0.5)
                assert len(down.requests) == attempts_when_dead  # no more attempts once dead

                down.fail_first = 0  # the CRM is back
                event_id = got[0]["event_id"]
                again = await api.post(f"/webhooks/{endpoint['id']}/deliveries/{event_id}/redeliver")
                assert again.status_code == 200, again.text
                assert again.json()["state"] == "pending"
                for _ in range(100):
                    if (await api.get(f"/webhooks/{endpoint['id']}/deliveries?state=delivered")).json():
                        break
                    await asyncio.sleep(0.1)
                stop.set()
                await asyncio.wait_for(task, 10)
                assert (await dead()) == []
                assert len(down.requests) == attempts_when_dead + 1
                twice = await api.post(f"/webhooks/{endpoint['id']}/deliveries/{event_id}/redeliver")
                assert twice.status_code == 404  # not dead any more

    asyncio.run(scenario())


def test_an_endpoint_for_one_dealer_gets_only_that_dealers_events_and_only_its_families(settings: Settings) -> None:
    async def scenario() -> None:
        with receiving(fail_first=0) as receiver:
            async with api_client(settings) as api:
                north = (await api.post("/dealers", json={"code": "N", "name": "North"})).json()["id"]
                south = (await api.post("/dealers", json={"code": "S", "name": "South"})).json()["id"]
                hook = {"url": receiver.url, "event_types": ["service_due"], "dealer_id": north}
                assert (await api.post("/webhooks", json=hook)).status_code == 201
                unknown = await api.post("/webhooks", json={**hook, "dealer_id": 999_999})
                assert unknown.status_code == 404
                for vin, dealer in (("WHKNNNNNNNNNNNNN1", north), ("WHKSSSSSSSSSSSSS1", south)):
                    body = {"vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2024,
                            "powertrain": "combustion", "dealer_id": dealer}  # fmt: skip
                    vid = (await api.post("/vehicles", json=body)).json()["id"]
                    async with await connect(settings) as conn:
                        now = datetime.now(UTC)
                        plan = alerts.Firing(vid, "maintenance_plan", 1, "info", "Service", "due", now, now, None, {},
                                             "service_plan")  # fmt: skip
                        await alerts.fire(conn, plan, reopen_within=timedelta(0))
                        await alerts.fire(conn, firing(vid, "coolant_overtemp", now), reopen_within=timedelta(0))
                        await conn.commit()
                await run_sender_until(settings, lambda: receiver.requests)
                await asyncio.sleep(0.5)  # time for anything that should not come
                events = receiver.unique_events()
                assert [(e["type"], e["vehicle"]["vin"]) for e in events] == [
                    ("service_due.opened", "WHKNNNNNNNNNNNNN1")
                ]

    asyncio.run(scenario())


def test_retry_delays_grow_exponentially_within_the_cap_and_are_jittered() -> None:
    import random

    rng = random.Random(7)
    draws = {n: [retry_delay(n, base_s=10, cap_s=3600, rng=rng) for _ in range(200)] for n in (1, 4, 20)}
    assert max(draws[1]) <= 10
    assert max(draws[4]) <= 80
    assert max(draws[4]) > 40  # the window doubled three times
    assert max(draws[20]) <= 3600
    assert len(set(draws[4])) == 200  # jittered: no two retries at the same moment


def test_old_delivered_events_are_forgotten_and_dead_ones_kept_for_redelivery(settings: Settings) -> None:
    async def scenario() -> None:
        async with api_client(settings) as api:
            hook = {"url": "http://127.0.0.1:9/hook", "event_types": ["alert"]}
            assert (await api.post("/webhooks", json=hook)).status_code == 201
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, VINS[0])
            for rule in ("coolant_overtemp", "tyre_low_front_left", "battery_12v_weak_crank"):
                await alerts.fire(conn, firing(vid, rule, datetime.now(UTC)), reopen_within=timedelta(0))
            await conn.execute(
                "UPDATE webhook_deliveries SET state = CASE event_seq WHEN (SELECT min(seq) FROM outbox_events)"
                " THEN 'dead' WHEN (SELECT max(seq) FROM outbox_events) THEN 'pending' ELSE 'delivered' END"
            )
            await conn.execute("UPDATE outbox_events SET created_at = now() - interval '31 days'")
            await conn.commit()

    asyncio.run(scenario())
    with connect_sync(settings, autocommit=True) as conn:
        assert outbox.prune_sync(conn, older_than=timedelta(days=30)) == 1
        left = conn.execute("SELECT d.state FROM outbox_events o JOIN webhook_deliveries d ON d.event_seq = o.seq")
        assert sorted(r["state"] for r in left.fetchall()) == ["dead", "pending"]
        assert outbox.prune_sync(conn, older_than=timedelta(days=30)) == 0


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "is a link-local address (cloud metadata lives there)"),
        ("http://127.0.0.1:8080/hook", "is a loopback address"),
        ("http://localhost/hook", "is a loopback address"),
        ("http://10.1.2.3/hook", "is a private or reserved address"),
        ("http://[::1]/hook", "is a loopback address"),
        ("http://[::ffff:192.168.1.1]/hook", "is a private or reserved address"),
    ],
)
def test_webhooks_may_not_target_private_addresses(settings: Settings, url: str, why: str) -> None:
    strict = settings.model_copy(update={"webhook_allow_private": False})

    async def subscribe() -> tuple[int, str]:
        async with api_client(strict) as api:
            answer = await api.post("/webhooks", json={"url": url, "event_types": ["alert"]})
            return answer.status_code, answer.json()["detail"]

    status, detail = asyncio.run(subscribe())
    assert status == 422
    assert why in detail
    assert "TELEMETRY_WEBHOOK_ALLOW_PRIVATE" in detail


def test_the_sender_checks_the_address_again_after_dns(settings: Settings) -> None:
    """An endpoint stored while private targets were allowed (or whose name now resolves to a
    private address) gets nothing once they are not: the check runs at every connection."""
    strict = fast_retries(settings, webhook_allow_private=False)

    async def scenario(receiver_url: str) -> list[dict]:
        async with api_client(settings) as api:  # allowed at subscription time
            url = receiver_url.replace("127.0.0.1", "localhost")
            endpoint = (await api.post("/webhooks", json={"url": url, "event_types": ["alert"]})).json()
        async with await connect(settings) as conn:
            vid = await add_vehicle(conn, VINS[0])
            await alerts.fire(conn, firing(vid, "coolant_overtemp", datetime.now(UTC)), reopen_within=timedelta(0))
            await conn.commit()
        async with await connect(settings) as conn:
            async with conn.transaction():
                claimed = await outbox.claim(conn, limit=10, lease=timedelta(seconds=30))
            sender = Sender(strict)
            async with targets.client(timeout_s=5, allow_private=False, headers={}) as http:
                results = [await sender._post(http, d) for d in claimed]
        assert endpoint["id"] == claimed[0].endpoint_id
        return [{"status": s, "error": e} for s, e in results]

    with receiving(fail_first=0) as receiver:
        results = asyncio.run(scenario(receiver.url))
        assert receiver.requests == []
    assert results
    assert all(r["status"] is None for r in results)
    assert "refused: localhost (" in results[0]["error"]
    assert "is a loopback address" in results[0]["error"]
