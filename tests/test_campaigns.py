"""Segments and campaigns end to end, through the real server and broker: an OEM key defines a
segment of 1,000 simulated vehicles, dry-runs a trial over it (with why 100 are not eligible), runs
the campaign at a rate, pauses and resumes it, and watches it complete while the process that runs
it is killed and restarted; the simulator's vehicles acknowledge, the 20 with a wrong key reject,
and every rejection and skip is explained. A cancelled campaign leaves its waiting vehicles alone."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import aiomqtt
import psutil
import psycopg
import pytest

from simulators.commands import CommandResponder
from telemetry.mqtt import make_client
from telemetry.settings import Settings
from telemetry.topics import COMMANDS, vehicle_filter
from tests.fix_server import Server, serving, wait_for
from tests.fix_services import make_key, make_settings
from tests.fix_vehicles import HEATED_SEATS

pytestmark = pytest.mark.slow
REMOTE_START = {"code": "remote_start", "name": "Remote start", "price_model": "one_off", "price": "149.00",
                "currency": "EUR"}  # fmt: skip
FLEET = 1000


@pytest.fixture(scope="module")
def server(database_url: str, mqtt_url: str) -> Iterator[Server]:
    with serving(make_settings(database_url, mqtt_url, command_ack_timeout_s=5.0)) as running:
        yield running


def vin(i: int) -> str:
    return f"WAUZZZ8V{i:09d}"


class SimulatedFleet(threading.Thread):
    """The simulator's vehicle side for the whole fleet on one connection: vehicles 0..19 were
    provisioned with another key, so they refuse every command as forged."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        secret = settings.command_secret.get_secret_value().encode()  # type: ignore[union-attr]
        prefix = settings.mqtt_topic_prefix
        self.responders = [CommandResponder(prefix, [vin(i) for i in range(20)], b"another key"),
                           CommandResponder(prefix, [vin(i) for i in range(20, FLEET)], secret)]  # fmt: skip
        self.ready, self.stopping = threading.Event(), threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        prefix = self.settings.mqtt_topic_prefix
        async with make_client(self.settings.require_mqtt_url(), f"{prefix}fleet", persistent=False) as client:
            await client.subscribe(vehicle_filter(prefix, COMMANDS), qos=1)
            self.ready.set()
            answering = asyncio.create_task(self._answer(client))
            await asyncio.to_thread(self.stopping.wait)
            answering.cancel()

    async def _answer(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            for responder in self.responders:
                reply = responder.handle(str(message.topic), bytes(message.payload))  # type: ignore[arg-type]
                if reply is not None:
                    await client.publish(reply[0], reply[1], qos=1)


def register_fleet(server: Server) -> None:
    """1,000 vehicles: 900 that may have heated seats, 50 on software 1.9, 50 without the heaters."""
    rows = []
    for i in range(FLEET):
        software, hardware = ("1.9", ["seat_heaters"]) if i >= 950 else ("2.1", ["seat_heaters"])
        if 900 <= i < 950:
            hardware = []
        rows.append((vin(i), software, hardware))
    with psycopg.connect(server.settings.require_database_url()) as conn:
        conn.execute(f"SET search_path TO {server.settings.database_schema}")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO vehicles (vin, make, model, model_year, powertrain, vss_version, software_version,"
                " hardware) VALUES (%s, 'Aurora', 'Compact 1.5', 2025, 'combustion', '6.0', %s, %s)",
                rows,
            )


def commands_process(server: Server) -> psutil.Process:
    children = psutil.Process(server.proc.pid).children(recursive=True)
    return next(p for p in children if "commands" in p.cmdline())


def test_an_oem_runs_a_campaign_over_a_segment_of_a_thousand_vehicles(server: Server) -> None:
    api = server.api
    api.headers["Authorization"] = f"Bearer {make_key(server.settings, 'oem')}"
    assert api.post("/features", json=HEATED_SEATS).status_code == 201
    assert api.post("/features", json=REMOTE_START).status_code == 201
    register_fleet(server)
    fleet = SimulatedFleet(server.settings)
    fleet.start()
    try:
        assert fleet.ready.wait(20)
        segment = api.post("/segments", json={"name": "Compact 1.5", "filter": {"models": ["Compact 1.5"]}})
        assert segment.status_code == 201, segment.text
        assert segment.json()["vehicles"] == FLEET
        target = {"segment_id": segment.json()["id"], "feature_code": "heated_seats", "kind": "trial"}
        dry = api.post("/campaigns/dry-run", json=target).json()
        assert dry == {
            "segment_vehicles": 1000,
            "eligible": 900,
            "not_eligible": [
                {"reason": "heated_seats needs hardware the vehicle lacks: seat_heaters", "vehicles": 50},
                {"reason": "heated_seats needs software 2.0 or newer; the vehicle runs 1.9", "vehicles": 50},
            ],
        }

        created = api.post("/campaigns", json={**target, "name": "Winter trial", "rate_per_minute": 3000})
        assert created.status_code == 201, created.text
        url = f"/campaigns/{created.json()['id']}"
        wait_for(lambda: api.get(url).json()["progress"]["waiting"] < 950)
        paused = api.post(f"{url}/pause").json()
        assert paused["state"] == "paused"
        time.sleep(2)
        held = api.get(url).json()["progress"]["waiting"]
        time.sleep(2)
        assert api.get(url).json()["progress"]["waiting"] == held > 0  # nothing released while paused
        assert api.post(f"{url}/pause").status_code == 409
        assert api.post(f"{url}/resume").json()["state"] == "running"

        os.kill(
            commands_process(server).pid, signal.SIGKILL
        )  # the runner dies mid-campaign; the supervisor restarts it
        done = wait_for(
            lambda: (
                (c := api.get(url).json())["state"] == "completed"
                and c["progress"]["acknowledged"] + c["progress"]["rejected"] == 900
                and c
            ),
            timeout=120,
        )
        progress = done["progress"]
        assert (progress["acknowledged"], progress["rejected"], progress["skipped"]) == (880, 20, 100)
        assert progress["rejections"] == {"bad signature": 20}  # every rejection explained
        assert progress["skip_reasons"] == {r["reason"]: r["vehicles"] for r in dry["not_eligible"]}
        assert progress["waiting"] == progress["queued"] == progress["sent"] == 0
        assert api.get(f"/vehicles/{vin(500)}/features").json()[0]["state"] == "active"

        purchase = {"segment_id": segment.json()["id"], "feature_code": "remote_start", "kind": "purchase"}
        slow = api.post("/campaigns", json={**purchase, "name": "Remote start", "rate_per_minute": 60}).json()
        time.sleep(2.5)
        cancelled = api.post(f"/campaigns/{slow['id']}/cancel").json()
        assert cancelled["state"] == "cancelled"
        left = cancelled["progress"]
        assert left["cancelled"] >= FLEET - 5
        assert left["cancelled"] + left["queued"] + left["sent"] + left["acknowledged"] + left["rejected"] == FLEET
        time.sleep(2)
        assert api.get(f"/campaigns/{slow['id']}").json()["progress"]["cancelled"] == left["cancelled"]
        assert api.post(f"/campaigns/{slow['id']}/resume").status_code == 409
    finally:
        fleet.stopping.set()
        fleet.join(10)
