"""The agent's store-and-forward and commands, against the real server, Mosquitto and PostgreSQL:
a car out of coverage for three days uploads its backlog completely and exactly once when it is
back (its full buffer dropped the oldest and said how many), without looking silent; a reboot in
the middle of an upload loses nothing and doubles nothing; forged, replayed and expired commands
are refused with the documented reasons, and an OEM's activation through the API is applied."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
from pathlib import Path

import aiomqtt
import orjson
import pytest

from agent.buffer import Buffer, Sample
from agent.config import load_config
from commands.signing import sign, vehicle_key
from telemetry.mqtt import make_client
from telemetry.settings import Settings
from telemetry.storage.db import connect_sync
from telemetry.topics import COMMAND_ACKS, COMMANDS, vehicle_topic
from tests.fix_agent import Cable, agent_process, start_agent, write_config
from tests.fix_server import Server, wait_for

pytestmark = pytest.mark.slow
MINUTE_MS = 60_000


def register(server: Server, vin: str, **extra: object) -> None:
    body = {"vin": vin, "make": "Aurora", "model": "Compact 1.5", "model_year": 2024, "powertrain": "combustion",
            **extra}  # fmt: skip
    response = server.api.post("/vehicles", json=body)
    assert response.status_code == 201, response.text


def offline_record(start_ms: int, moments: int, step_ms: int) -> list[Sample]:
    """What a car records while offline: speed, coolant and fuel at every moment, its trouble codes
    (none) once an hour."""
    rows = []
    for i in range(moments):
        ts = start_ms + i * step_ms
        rows += [Sample(ts, "Vehicle.Speed", float(i % 130)),
                 Sample(ts, "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature", 90.0),
                 Sample(ts, "Vehicle.Powertrain.FuelSystem.RelativeLevel", 50.0)]  # fmt: skip
        if i % 60 == 0:
            rows.append(Sample(ts, "Vehicle.Diagnostics.DTCList", codes=()))
    return rows


def fill(config: Path, rows: list[Sample]) -> None:
    """Put rows in the agent's buffer as its sources would have."""
    settings = load_config(config)
    buffer = Buffer(settings.buffer_file, settings.buffer_max_samples)
    for first in range(0, len(rows), 50_000):
        buffer.append(rows[first : first + 50_000])
    buffer.close()


def expected(rows: list[Sample]) -> dict[str, int]:
    """The counts `stored` gives once `rows` arrived."""
    column = {"Vehicle.Speed": "speed", "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature": "coolant",
              "Vehicle.Powertrain.FuelSystem.RelativeLevel": "fuel"}  # fmt: skip
    counts = {"moments": len({r.ts for r in rows}), "speed": 0, "coolant": 0, "fuel": 0}
    for r in rows:
        if r.path in column:
            counts[column[r.path]] += 1
    return counts


def stored(server: Server, vin: str) -> dict[str, int]:
    with connect_sync(server.settings) as conn:
        row = conn.execute(
            "SELECT count(*) AS moments, count(speed) AS speed, count(coolant_temperature) AS coolant,"
            " count(fuel_level) AS fuel FROM samples s JOIN vehicles v ON v.id = s.vehicle_id"
            " WHERE v.vin = %s",
            (vin,),
        ).fetchone()
    assert row is not None
    return row


def vehicle_row(server: Server, vin: str) -> dict[str, object]:
    with connect_sync(server.settings) as conn:
        row = conn.execute(
            "SELECT v.software_version, v.dropped_samples, (SELECT count(*) FROM alerts a WHERE a.vehicle_id = v.id"
            " AND a.rule_id = 'vehicle_silent' AND a.state = 'open') AS silent FROM vehicles v WHERE v.vin = %s",
            (vin,),
        ).fetchone()
    assert row is not None
    return row


def test_three_days_out_of_coverage_upload_completely_once_and_the_car_is_not_silent(
    server: Server, cable: Cable, tmp_path: Path
) -> None:
    vin = "WAUZZZ8V0KA000701"
    register(server, vin)
    config = write_config(tmp_path, server.settings, vin, broker_url=cable.url, extra="buffer_max_samples = 10000")
    recorded = offline_record(time.time_ns() // 1_000_000 - 3 * 1440 * MINUTE_MS, 3 * 1440, MINUTE_MS)
    fill(config, recorded)  # one moment a minute for three days: 13,032 rows in a buffer of 10,000
    kept = recorded[-10_000:]
    log = tmp_path / "agent.log"
    cable.cut()
    with agent_process(config, log):
        wait_for(lambda: "broker connection lost" in log.read_text())
        assert stored(server, vin)["moments"] == 0  # nothing gets through while out of coverage
        cable.mend()
        wait_for(lambda: stored(server, vin) == expected(kept), timeout=90)
    car = vehicle_row(server, vin)
    assert car["software_version"] == "3.1.0"
    assert car["dropped_samples"] == len(recorded) - len(kept)  # the full buffer said how much it dropped
    assert car["silent"] == 0  # a backlog arriving is a car talking, not a silent one


def test_a_reboot_in_the_middle_of_an_upload_loses_nothing_and_stores_nothing_twice(
    server: Server, tmp_path: Path
) -> None:
    vin = "WAUZZZ8V0KA000702"
    register(server, vin)
    config = write_config(tmp_path, server.settings, vin, extra="[upload]\nmax_messages_per_s = 5")
    day = offline_record(time.time_ns() // 1_000_000 - 86_400_000, 86_400, 1000)  # a day at 1 Hz
    fill(config, day)
    log = tmp_path / "agent.log"
    proc = start_agent(config, log)
    try:
        wait_for(lambda: 10_000 < stored(server, vin)["speed"] < 70_000, timeout=60, interval=0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the power goes, mid-upload
        proc.wait()
    assert stored(server, vin)["speed"] < 86_400
    with agent_process(config, log):
        wait_for(lambda: stored(server, vin) == expected(day), timeout=120)
    with connect_sync(server.settings) as conn:
        letters = conn.execute("SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason").fetchall()
    assert [r for r in letters if r["reason"] != "seq_regressed"] == []


async def exchange(settings: Settings, vin: str, payloads: list[bytes]) -> list[dict[str, object]]:
    """Send commands as the server would and collect the car's acknowledgement of each, in order."""
    prefix = settings.mqtt_topic_prefix
    answers: list[dict[str, object]] = []
    async with make_client(settings.mqtt_url or "", f"{prefix}cmd-test", persistent=False) as client:
        await client.subscribe(vehicle_topic(prefix, vin, COMMAND_ACKS), qos=1)
        for payload in payloads:
            await client.publish(vehicle_topic(prefix, vin, COMMANDS), payload, qos=1)
            async with asyncio.timeout(20):
                message: aiomqtt.Message = await anext(aiter(client.messages))
            answers.append(orjson.loads(message.payload))  # type: ignore[arg-type]
    return answers


def test_commands_are_applied_once_and_forged_replayed_and_expired_ones_refused(server: Server, tmp_path: Path) -> None:
    vin = "WAUZZZ8V0KA000703"
    register(server, vin)
    secret = server.settings.command_secret
    assert secret is not None
    key = vehicle_key(secret.get_secret_value().encode(), vin)
    calls = tmp_path / "hook.calls"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    config = write_config(tmp_path, server.settings, vin, extra=f'command_key = "{key.hex()}"\nhook = "hook.sh"')
    later = time.time_ns() // 1_000_000 + 3_600_000
    enable = orjson.dumps(sign({"id": "c-1", "feature": "heated_seats", "action": "enable", "expires": later}, key))
    disable = orjson.dumps(sign({"id": "c-2", "feature": "heated_seats", "action": "disable", "expires": None}, key))
    reused = orjson.dumps(sign({"id": "c-1", "feature": "remote_start", "action": "enable", "expires": None}, key))
    wrong = b"x" * 32
    forged = orjson.dumps(sign({"id": "c-3", "feature": "remote_start", "action": "enable", "expires": None}, wrong))
    expired = orjson.dumps(sign({"id": "c-4", "feature": "remote_start", "action": "enable", "expires": 1_000}, key))
    state = tmp_path / "state" / "features.json"
    with agent_process(config, tmp_path / "agent.log"):
        wait_for(lambda: "connected to the broker" in (tmp_path / "agent.log").read_text())
        first = asyncio.run(exchange(server.settings, vin, [enable]))
        assert orjson.loads(state.read_bytes())["enabled"] == {"heated_seats": later}
        answers = asyncio.run(exchange(server.settings, vin, [disable, enable, reused, forged, expired]))
    assert [(a["id"], a["status"], a["reason"]) for a in first + answers] == [
        ("c-1", "accepted", None),
        ("c-2", "accepted", None),
        ("c-1", "accepted", None),  # a replay of the enable: the first answer again, and nothing applied
        ("c-1", "rejected", "replayed: command id c-1 was used already"),
        ("c-3", "rejected", "bad signature"),
        ("c-4", "rejected", "expired"),
    ]
    assert orjson.loads(state.read_bytes())["enabled"] == {}  # still off after the replay
    assert [line.strip() for line in calls.read_text().splitlines()] == [
        f"heated_seats enable {later}",
        "heated_seats disable",
    ]
