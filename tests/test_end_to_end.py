"""The whole path through real processes: MQTT -> ingest -> PostgreSQL -> rules -> API."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from telemetry.arrow_contract import ipc_stream
from telemetry.mqtt import broker_address, publisher
from telemetry.storage.db import conninfo
from telemetry.storage.layout import NATIVE
from telemetry.timeutil import now_ms
from telemetry.topics import TELEMETRY, TELEMETRY_ARROW, vehicle_topic
from tests.fix_server import Server, wait_for
from tests.fix_services import expected_layout
from tests.fix_webhooks import receiving

COOLANT = "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature"


def register(server: Server, vin: str, powertrain: str = "combustion") -> dict:
    api = server.api
    dealer = api.post("/dealers", json={"code": f"D-{vin}", "name": "Dealer"})
    assert dealer.status_code == 201, dealer.text
    dealer = dealer.json()
    customer = api.post(
        "/customers", json={"name": "Ada Driver", "email": f"ada.{vin.lower()}@example.com", "dealer_id": dealer["id"]}
    ).json()
    vehicle = api.post(
        "/vehicles",
        json={
            "vin": vin,
            "make": "Aurora",
            "model": "Compact 1.5",
            "model_year": 2023,
            "powertrain": powertrain,
            "owner_customer_id": customer["id"],
            "dealer_id": dealer["id"],
        },
    )
    assert vehicle.status_code == 201, vehicle.text
    return customer


def publish(server: Server, vin: str, payloads: list[bytes]) -> None:
    async def go() -> None:
        async with publisher(server.settings.require_mqtt_url(), f"{server.settings.mqtt_client_id}-test") as c:
            for p in payloads:
                await c.publish(vehicle_topic(server.settings.mqtt_topic_prefix, vin, TELEMETRY), p, qos=1)

    asyncio.run(go())


def series(server: Server, vin: str, path: str) -> list[dict]:
    response = server.api.get(f"/vehicles/{vin}/signals/{path}")
    assert response.status_code == 200, response.text
    return response.json()["points"]


def test_health_reports_database_and_broker(server: Server) -> None:
    body = server.api.get("/health").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"]
    assert body["broker"]["ok"]
    assert body["samples_layout"] == expected_layout()
    assert body["samples_layout_reason"]


def test_mosquitto_pub_of_a_hand_written_message_shows_up_in_the_signals(server: Server) -> None:
    vin = "1HGCM82633A004352"
    register(server, vin)
    host, port = broker_address(server.settings.require_mqtt_url())
    ts = now_ms()
    message = f'{{"vin": "{vin}", "seq": 1, "samples": [{{"ts": {ts}, "signals": {{"Vehicle.Speed": 52.3}}}}]}}'
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            host,
            "-p",
            str(port),
            "-q",
            "1",
            "-t",
            vehicle_topic(server.settings.mqtt_topic_prefix, vin, TELEMETRY),
            "-m",
            message,
        ],
        check=True,
        timeout=10,
    )
    points = wait_for(lambda: series(server, vin, "Vehicle.Speed"))
    assert [p["value"] for p in points] == [52.3]


def test_duplicate_delivery_is_stored_once_and_other_signals_merge(server: Server) -> None:
    vin = "WVWZZZ1JZXW000001"
    register(server, vin)
    ts = now_ms() - 5_000
    speed = orjson.dumps({"vin": vin, "seq": 7, "ts": ts, "signals": {"Vehicle.Speed": 80.0}})
    rpm = orjson.dumps({"vin": vin, "seq": 8, "ts": ts, "signals": {"Vehicle.Powertrain.CombustionEngine.Speed": 2500}})
    publish(server, vin, [speed, speed, rpm, speed])
    wait_for(lambda: series(server, vin, "Vehicle.Powertrain.CombustionEngine.Speed"))
    assert [p["value"] for p in series(server, vin, "Vehicle.Speed")] == [80.0]
    assert [p["value"] for p in series(server, vin, "Vehicle.Powertrain.CombustionEngine.Speed")] == [2500.0]


def test_bad_input_is_dead_lettered_with_its_reason_and_the_rest_is_kept(server: Server) -> None:
    vin = "JH4KA7561PC008269"
    register(server, vin)
    ts = now_ms()
    mixed = orjson.dumps(
        {"vin": vin, "ts": ts, "signals": {"Vehicle.Speed": 999, "Vehicle.Exterior.AirTemperature": 12.5}}
    )
    publish(server, vin, [b"{oops", mixed])
    publish(server, "5YJ3E1EA7KF317000", [orjson.dumps({"ts": ts, "signals": {"Vehicle.Speed": 1}})])

    def letters() -> list[dict]:
        rows = server.api.get("/dead-letters").json()
        return rows if len(rows) >= 3 else []

    rows = {r["reason"]: r for r in wait_for(letters)}
    assert rows["malformed_json"]["payload"] == "{oops"
    assert rows["malformed_json"]["topic"] == vehicle_topic(server.settings.mqtt_topic_prefix, vin, TELEMETRY)
    assert (
        rows["out_of_range"]["detail"] == "signal 'Vehicle.Speed' value 999 km/h is outside the valid range 0..400 km/h"
    )
    assert rows["unknown_vehicle"]["detail"] == "vehicle 5YJ3E1EA7KF317000 is not registered"
    assert [p["value"] for p in series(server, vin, "Vehicle.Exterior.AirTemperature")] == [12.5]
    only_range = server.api.get("/dead-letters", params={"reason": "out_of_range"}).json()
    assert [r["reason"] for r in only_range] == ["out_of_range"]


def test_coolant_over_temperature_raises_one_alert_on_the_customer_record(server: Server) -> None:
    vin = "2T1BURHEXJC043821"
    customer = register(server, vin)
    with receiving(fail_first=1) as crm:
        hook = server.api.post("/webhooks", json={"url": crm.url, "event_types": ["alert"]})
        assert hook.status_code == 201, hook.text
        raise_and_work_the_alert(server, vin, customer)

        def crm_events() -> list[str]:
            mine = [e["type"] for e in crm.unique_events() if e["vehicle"]["vin"] == vin]
            return mine if len(mine) == 3 else []

        # the CRM fails each first attempt; the server's webhook sender retries
        assert wait_for(crm_events, timeout=60) == ["alert.opened", "alert.acknowledged", "alert.resolved"]
        assert server.api.delete(f"/webhooks/{hook.json()['id']}").status_code == 204


def raise_and_work_the_alert(server: Server, vin: str, customer: dict) -> None:
    start = now_ms() - 120_000

    def message(seq: int, first_s: int, count: int, temp: float) -> bytes:
        samples = [
            {"ts": start + (first_s + i) * 1000, "signals": {COOLANT: temp, "Vehicle.Speed": 90}} for i in range(count)
        ]
        return orjson.dumps({"vin": vin, "seq": seq, "samples": samples})

    hot = [message(1, 0, 20, 118.0), message(2, 20, 20, 119.5), message(3, 40, 20, 118.0)]
    publish(server, vin, [*hot, hot[1]])  # 60 s above 110 °C, one message delivered twice

    def alerts() -> list[dict]:
        return server.api.get(f"/customers/{customer['id']}").json()["alerts"]

    found = wait_for(alerts)
    assert len(found) == 1
    alert = found[0]
    assert (alert["rule_id"], alert["severity"], alert["state"], alert["vin"]) == (
        "coolant_overtemp",
        "critical",
        "open",
        vin,
    )
    assert alert["peak_value"] == pytest.approx(119.5)
    assert "120 °C" in alert["explanation"]
    assert "30 s" in alert["explanation"]
    evidence = alert["evidence"]  # the samples behind it, from the first hot one to the firing one
    assert (evidence["kind"], evidence["signal"], evidence["limit"]) == ("threshold", COOLANT, 110.0)
    assert len(evidence["samples"]) == 31
    assert {v for _, v in evidence["samples"]} == {118.0, 119.5}
    vehicle_alerts = server.api.get(f"/vehicles/{vin}/alerts").json()
    assert [a["id"] for a in vehicle_alerts] == [alert["id"]]

    # an advisor works it: acknowledge, then resolve with what came of it
    taken = server.api.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "ada@dealer", "note": "calling"})
    assert (taken.status_code, taken.json()["state"], taken.json()["acknowledged_by"]) == (
        200,
        "acknowledged",
        "ada@dealer",
    )
    twice = server.api.post(f"/alerts/{alert['id']}/acknowledge", json={"by": "bob@dealer"})
    assert twice.status_code == 409
    assert twice.json() == {"detail": f"alert {alert['id']} is acknowledged; only an open alert can be acknowledged"}
    done = server.api.post(f"/alerts/{alert['id']}/resolve", json={"by": "ada@dealer", "resolution": "booked"})
    assert (done.json()["state"], done.json()["resolution"], done.json()["note"]) == ("resolved", "booked", "calling")
    assert (
        server.api.post(f"/alerts/{alert['id']}/resolve", json={"by": "x", "resolution": "booked"}).status_code == 409
    )
    bad = server.api.post(f"/alerts/{alert['id']}/resolve", json={"by": "x", "resolution": "ignored"})
    assert bad.status_code == 422
    assert server.api.get("/alerts/99999999").status_code == 404


def test_unknown_records_answer_404(server: Server) -> None:
    assert server.api.get("/customers/999999").status_code == 404
    assert server.api.get("/vehicles/1HGCM82633A000000").status_code == 404
    missing_signal = server.api.get("/vehicles/1HGCM82633A004352/signals/Vehicle.Warp")
    assert missing_signal.status_code == 404
    assert missing_signal.json() == {"detail": "unknown signal 'Vehicle.Warp'"}


def metric(text: str, name: str) -> float:
    """The value of one sample line `name value` in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_metrics_count_messages_and_dead_letters_by_reason(server: Server) -> None:
    vin = "3VWFE21C04M000001"
    register(server, vin)
    before = server.api.get("/metrics").text
    publish(server, vin, [b"[1, 2", orjson.dumps({"ts": now_ms(), "signals": {"Vehicle.Speed": 3}})])

    def counted() -> str:
        text = server.api.get("/metrics").text
        return (
            text
            if metric(text, "telemetry_ingest_messages_total") >= metric(before, "telemetry_ingest_messages_total") + 2
            else ""
        )

    text = wait_for(counted)
    reason = 'telemetry_ingest_dead_letters_total{reason="malformed_json"}'
    assert metric(text, reason) == metric(before, reason) + 1
    assert metric(text, "telemetry_ingest_samples_total") >= metric(before, "telemetry_ingest_samples_total") + 1
    ingest_id = f"{server.settings.mqtt_client_id}-ingest-0"
    assert metric(text, f'telemetry_broker_connected{{component="{ingest_id}"}}') == 1.0


def test_an_arrow_batch_over_mqtt_is_stored(server: Server) -> None:
    import pyarrow as pa

    vin = "1FTFW1ET9DFC10312"
    register(server, vin)
    start = now_ms() - 60_000
    table = pa.table(
        {
            "ts": pa.array([start + i * 1000 for i in range(30)], pa.int64()),
            "path": pa.array(["Vehicle.Speed"] * 30),
            "value": pa.array([float(i) for i in range(30)]),
        }
    )

    async def go() -> None:
        async with publisher(server.settings.require_mqtt_url(), f"{server.settings.mqtt_client_id}-arrow") as c:
            topic = vehicle_topic(server.settings.mqtt_topic_prefix, vin, TELEMETRY_ARROW)
            await c.publish(topic, ipc_stream(table), qos=1)

    asyncio.run(go())
    points = wait_for(lambda: len(series(server, vin, "Vehicle.Speed")) == 30 and series(server, vin, "Vehicle.Speed"))
    assert [p["value"] for p in points] == [float(i) for i in range(30)]


def test_late_history_is_stored_and_queried_in_time_order(server: Server) -> None:
    vin = "1G1ZT53826F109149"
    register(server, vin)
    now = now_ms()
    live = orjson.dumps({"vin": vin, "ts": now - 1_000, "signals": {"Vehicle.Speed": 99.0}})
    hour_ago = now - 3_600_000
    history = orjson.dumps(
        {
            "vin": vin,
            "samples": [
                {"ts": hour_ago + i * 60_000, "signals": {"Vehicle.Speed": float(i)}} for i in range(0, 60, 10)
            ],
        }
    )
    publish(server, vin, [live, history])  # the vehicle was offline and uploads its buffer afterwards
    points = wait_for(lambda: len(series(server, vin, "Vehicle.Speed")) == 7 and series(server, vin, "Vehicle.Speed"))
    assert [p["value"] for p in points] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 99.0]


def test_a_backlog_days_late_reaches_the_long_chart_and_the_hourly_rollup(server: Server) -> None:
    vin = "1G1ZT58786F109222"
    register(server, vin)
    three_days_ago = now_ms() - 3 * 86_400_000
    three_days_ago -= three_days_ago % 3_600_000  # the start of an hour
    backlog = orjson.dumps(
        {"vin": vin, "samples": [{"ts": three_days_ago + i * 60_000, "signals": {"Vehicle.Speed": float(i)}}
                                 for i in range(60)]}
    )  # fmt: skip
    publish(server, vin, [backlog])

    def year_chart() -> list[dict]:
        end = datetime.now(UTC)
        response = server.api.get(
            f"/vehicles/{vin}/signals/Vehicle.Speed/buckets",
            params={"from": (end - timedelta(days=365)).isoformat(), "to": end.isoformat(), "points": 600},
        )
        assert response.status_code == 200, response.text
        assert response.json()["bucket_s"] % 3600 == 0, "a year is drawn from whole hours"
        return response.json()["buckets"]

    buckets = wait_for(year_chart)
    assert [(b["min"], b["max"], b["n"]) for b in buckets] == [(0.0, 59.0, 60)]
    assert buckets[0]["mean"] == pytest.approx(29.5)
    if expected_layout() == NATIVE:  # the ingest process rolls the hour up (TimescaleDB: its own policy)

        def rolled_up() -> bool:
            with psycopg.connect(conninfo(server.settings), row_factory=dict_row) as conn:
                mine = "(SELECT id FROM vehicles WHERE vin = %s)"
                row = conn.execute(f"SELECT rows FROM samples_hourly WHERE vehicle_id = {mine}", (vin,)).fetchone()
                pending = conn.execute(
                    f"SELECT count(*) AS n FROM samples_hourly_pending WHERE vehicle_id = {mine}", (vin,)
                ).fetchone()
            return row is not None and row["rows"] == 60 and pending is not None and pending["n"] == 0

        wait_for(rolled_up)
        assert year_chart() == buckets
