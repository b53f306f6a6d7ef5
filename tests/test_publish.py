"""The simulated fleet on the wire: payloads the server accepts, publishing over a real broker,
commands acknowledged, recordings replayed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiomqtt
import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from commands.signing import sign, vehicle_key
from ingest.codec import BatchBuilder, Limits, parse_envelope
from ingest.codec_arrow import parse_arrow_envelope
from simulators import physics as ph
from simulators.bulk_publisher import BulkPublisher
from simulators.commands import CommandResponder
from simulators.encode import PayloadEncoder
from simulators.fleet import Fleet
from simulators.publish import live_plan, publish
from simulators.record import ParquetRecorder, recorded_files, replay
from simulators.register import register
from simulators.scenario import Scenario
from telemetry.catalog import default_catalog
from telemetry.settings import Settings
from telemetry.topics import COMMAND_ACKS, COMMANDS, TELEMETRY, TELEMETRY_ARROW, parse_vehicle_topic, vehicle_topic
from tests.fix_server import Server, wait_for
from tests.fix_services import api_client

SCENARIO = Scenario(vehicles=12, days=1, seed=21, faults="", buffering=0.5, usage="always")


def decode_all(outgoing: list, limits: Limits, now_ms: int) -> dict[str, list[tuple[int, str, float]]]:
    """What the server's codec makes of the messages: (ts, path, value) per VIN."""
    catalog = default_catalog()
    builder = BatchBuilder(catalog, limits, now_ms)
    vins = []
    for k, msg in enumerate(outgoing):
        vin, kind = parse_vehicle_topic("", msg.topic) or ("", "")
        env = parse_envelope(vin, msg.payload, limits) if kind == TELEMETRY else None
        if kind == TELEMETRY_ARROW:
            env = parse_arrow_envelope(vin, msg.payload, limits, catalog)
        assert env is not None
        assert not hasattr(env, "reason"), f"rejected: {env}"
        builder.add(k, env)
        vins.append(vin)
    batch = builder.finish()
    assert not builder.rejections, builder.rejections
    found: dict[str, list[tuple[int, str, float]]] = {}
    for m, ts, sig, value in zip(batch.msg, batch.ts, batch.signal, batch.value, strict=True):
        found.setdefault(vins[m], []).append((int(ts), catalog.signals[sig].path, float(value)))
    return found


def test_json_and_arrow_payloads_carry_every_value_and_the_server_accepts_them() -> None:
    fleet = Fleet(SCENARIO)
    encoder = PayloadEncoder(fleet, "", buffer_s=60)
    spans = list(fleet.spans(span_s=1800, until_s=3600))
    outgoing = [m for s in spans for m in encoder.encode(s)] + encoder.flush_all()
    assert {parse_vehicle_topic("", m.topic)[1] for m in outgoing} == {TELEMETRY, TELEMETRY_ARROW}
    limits = Limits.from_settings(Settings())
    now = max(m.ts_ms for m in outgoing) + 1000
    decoded = decode_all(outgoing, limits, now)
    for span in spans:
        for row in range(0, len(span), 97):
            vin = fleet.vins[span.vehicle[row]]
            got = {(p, round(v, 6)) for t, p, v in decoded[vin] if t == span.ts_ms[row]}
            want = {
                (ph.COLUMNS[c], round(float(span.values[row, c]), 6))
                for c in np.flatnonzero(~np.isnan(span.values[row]))
            }
            assert want <= got, f"{vin} at {span.ts_ms[row]}: {want - got}"


@pytest.fixture
def commands(settings: Settings):
    """Two simulated vehicles listening for commands on the real broker; yields a function that
    sends a command and returns the ack."""
    secret = b"test-secret"
    vins = ["WA1AAAAAAAAAAAAA1", "WA1BBBBBBBBBBBBB2"]
    prefix = settings.mqtt_topic_prefix
    responder = CommandResponder(prefix, vins, secret)
    vehicles = BulkPublisher(
        settings.require_mqtt_url(),
        f"t-cmd-{settings.mqtt_client_id}",
        on_message=responder.handle,
        subscriptions=responder.topics(),
    )

    async def send(vin: str, payload: bytes) -> dict:
        async with aiomqtt.Client("127.0.0.1", int(settings.require_mqtt_url().rsplit(":", 1)[1])) as client:
            await client.subscribe(vehicle_topic(prefix, vin, COMMAND_ACKS), qos=1)
            await asyncio.sleep(0.3)  # the vehicles' subscriptions are in place
            await client.publish(vehicle_topic(prefix, vin, COMMANDS), payload, qos=1)
            async with asyncio.timeout(10):
                async for message in client.messages:
                    return orjson.loads(message.payload)
        raise AssertionError("no ack")

    yield lambda vin, payload: asyncio.run(send(vin, payload)), responder, secret
    vehicles.close()


def test_vehicles_acknowledge_signed_commands_and_refuse_forged_ones(commands) -> None:
    send, responder, secret = commands
    vin = "WA1AAAAAAAAAAAAA1"
    command = {"id": "c-1", "feature": "heated_seats", "action": "enable", "expires": None}
    ack = send(vin, orjson.dumps(sign(command, vehicle_key(secret, vin))))
    assert (ack["id"], ack["status"], ack["reason"]) == ("c-1", "accepted", None)
    assert "heated_seats" in responder.state.enabled[vin]
    again = send(vin, orjson.dumps(sign(command, vehicle_key(secret, vin))))
    assert again["status"] == "accepted", "a redelivered command is acknowledged again"
    forged = sign({**command, "id": "c-2"}, vehicle_key(b"someone else", vin))
    refused = send(vin, orjson.dumps(forged))
    assert (refused["id"], refused["status"], refused["reason"]) == ("c-2", "rejected", "bad signature")
    other_vehicle = sign({**command, "id": "c-3"}, vehicle_key(secret, "WA1BBBBBBBBBBBBB2"))
    assert send(vin, orjson.dumps(other_vehicle))["reason"] == "bad signature", "keys are per vehicle"
    expired = sign({**command, "id": "c-4", "expires": 1000}, vehicle_key(secret, vin))
    assert send(vin, orjson.dumps(expired))["reason"] == "expired"
    assert send(vin, b"not json")["status"] == "rejected"
    disable = sign({**command, "id": "c-5", "action": "disable"}, vehicle_key(secret, vin))
    assert send(vin, orjson.dumps(disable))["status"] == "accepted"
    assert "heated_seats" not in responder.state.enabled[vin]


def test_registration_creates_dealers_customers_vehicles_and_service_history(settings: Settings) -> None:
    fleet = Fleet(Scenario(vehicles=8, days=1, seed=4, faults=""))

    async def go() -> tuple[int, int, list, list]:
        async with api_client(settings) as http:
            first = await register(fleet, "http://api", client=http)
            again = await register(fleet, "http://api", client=http)
            vehicle = (await http.get(f"/vehicles/{fleet.vins[0]}")).json()
            services = (await http.get(f"/vehicles/{fleet.vins[0]}/services")).json()
            return first, again, vehicle, services

    first, again, vehicle, services = asyncio.run(go())
    assert (first, again) == (8, 0)
    assert vehicle["model"] == fleet.models[0].model
    assert vehicle["delivered_on"] is not None
    assert vehicle["owner_customer_id"] is not None
    assert len(services) == 1
    assert services[0]["odometer_km"] == pytest.approx(fleet.last_service_km[0], abs=0.1)


def test_publishing_processes_deliver_every_message_over_the_broker(settings: Settings, tmp_path: Path) -> None:
    """An hour of a 12-vehicle fleet at 120x in two processes: what a subscriber receives is what
    the processes report sent, and what they recorded."""
    received: list[tuple[str, bytes]] = []
    sub = BulkPublisher(
        settings.require_mqtt_url(),
        f"t-sub-{settings.mqtt_client_id}",
        on_message=lambda t, p: received.append((t, p)),
        subscriptions=[
            f"{settings.mqtt_topic_prefix}vehicles/+/telemetry",
            f"{settings.mqtt_topic_prefix}vehicles/+/telemetry/arrow",
        ],
    )
    time.sleep(0.3)
    plan = live_plan(
        SCENARIO.with_values({"drive_interval_s": "5", "park_interval_s": "5"}),
        settings.require_mqtt_url(),
        prefix=settings.mqtt_topic_prefix,
        speed=120,
        duration_s=30,
        processes=2,
        record=tmp_path / "rec",
    )
    result = publish(plan)
    wait_for(lambda: len(received) >= result.sent, timeout=20)
    sub.close()
    assert result.sent > 12 * 3600 / 5 * 0.5
    assert len(received) == result.sent
    assert result.ceiling_msg_per_s > 1000
    kinds = {parse_vehicle_topic(settings.mqtt_topic_prefix, t)[1] for t, _ in received}
    assert kinds == {TELEMETRY, TELEMETRY_ARROW}
    newest = max(orjson.loads(p)["samples"][0]["ts"] for t, p in received if t.endswith(TELEMETRY))
    assert newest <= time.time() * 1000 + 1000, "accelerated runs stay behind the wall clock"
    files = recorded_files(tmp_path / "rec")
    assert len(files) >= 2, "one file per process and day"


def test_a_recording_replays_over_the_broker(settings: Settings, tmp_path: Path) -> None:
    fleet = Fleet(Scenario(vehicles=5, days=1, seed=8, faults=""))
    recorder = ParquetRecorder(tmp_path, fleet)
    for span in fleet.spans(until_s=6 * 3600):
        recorder.write(span)
    recorder.close()
    received: list[bytes] = []
    sub = BulkPublisher(
        settings.require_mqtt_url(),
        f"t-replay-{settings.mqtt_client_id}",
        on_message=lambda _t, p: received.append(p),
        subscriptions=[f"{settings.mqtt_topic_prefix}vehicles/+/telemetry"],
    )
    time.sleep(0.3)
    sent = replay(recorded_files(tmp_path), settings.require_mqtt_url(), prefix=settings.mqtt_topic_prefix, speed=1e6)
    wait_for(lambda: len(received) >= sent, timeout=20)
    sub.close()
    assert sent == recorder.rows
    docs = [orjson.loads(p) for p in received]
    stamps = [d["samples"][0]["ts"] for d in docs]
    assert max(stamps) <= time.time() * 1000 + 1000, "replayed timestamps are shifted into the past"
    recorded = pq.read_table(recorded_files(tmp_path)[0], columns=["ts"]).column("ts").cast("int64").to_numpy()
    assert max(stamps) - min(stamps) == recorded.max() - recorded.min(), "intervals are kept"
    assert all("Vehicle.Diagnostics.DTCList" in d["samples"][0]["signals"] for d in docs)


@pytest.mark.slow
def test_simulate_command_feeds_a_running_server(server: Server, tmp_path: Path) -> None:
    """`telemetry simulate` against `telemetry serve`: vehicles registered, telemetry stored."""
    env = {"TELEMETRY_" + k.upper(): str(v) for k, v in server.settings.model_dump().items() if v is not None}
    labels = tmp_path / "labels.csv"
    run = subprocess.run(
        [sys.executable, "-m", "server.cli", "simulate", "--vehicles", "6", "--rate", "2", "--duration", "6",
         "--seed", "31", "--faults", "oil_loss:1@0.01", "--scenario", "usage=always",
         "--api-url", str(server.api.base_url), "--api-key", server.key, "--labels", str(labels)],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "registered 6 new vehicle(s)" in run.stdout
    assert "publisher ceiling" in run.stdout
    assert labels.read_text().count("oil_loss") == 1
    fleet = Fleet(Scenario(vehicles=6, days=1, seed=31, faults="", usage="always"))

    def stored() -> bool:
        points = server.api.get(f"/vehicles/{fleet.vins[0]}/signals/Vehicle.Speed").json().get("points", [])
        return len(points) >= 5

    wait_for(stored, timeout=30)
    assert server.api.get("/dead-letters").json() == []
