"""Nothing lost, nothing twice, through real failures of real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from simulators.models import MODELS, make_vin
from telemetry.settings import Settings
from telemetry.storage.db import connect_sync
from telemetry.storage.migrate import upgrade
from tests.fix_faults import OwnMosquitto, OwnPostgres, SteadyPublisher
from tests.fix_server import start_server, stop_server, wait_for
from tests.fix_services import drop_schema, make_settings

pytestmark = pytest.mark.slow


def fleet(settings: Settings, count: int = 40) -> list[str]:
    import random

    rng = random.Random(count)
    vins = [make_vin(rng, MODELS[0].wmi) for _ in range(count)]
    with connect_sync(settings) as conn:
        conn.execute(
            "INSERT INTO vehicles (vin, make, model, model_year, powertrain)"
            " SELECT v, 'Aurora', 'Compact 1.5', 2024, 'combustion' FROM unnest(%s::text[]) AS v",
            (vins,),
        )
    return vins


def stored(settings: Settings) -> int:
    try:
        with connect_sync(settings) as conn:
            return int(conn.execute("SELECT count(*) AS n FROM samples").fetchone()["n"])
    except psycopg.OperationalError:
        return -1


def ingest_pids(server_pid: int) -> list[int]:
    """Live ingest workers under the supervisor (a killed one is a zombie until it is reaped)."""
    pids = []
    for child in psutil.Process(server_pid).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "ingest" in " ".join(child.cmdline()):
                pids.append(child.pid)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return pids


@contextmanager
def running_server(settings: Settings, *args: str) -> Iterator[int]:
    """`telemetry serve` with its ingest workers connected; yields the supervisor's pid."""
    proc = start_server(settings, *args)
    try:
        wait_for(lambda: len(ingest_pids(proc.pid)) >= 1, timeout=30)
        time.sleep(2)  # workers connected
        yield proc.pid
    finally:
        stop_server(proc)


def assert_exactly_once(settings: Settings, publisher: SteadyPublisher) -> None:
    publisher.join()
    deadline = time.monotonic() + 90
    while stored(settings) < publisher.published and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1)  # a duplicate would show up as more rows than messages, not fewer
    assert stored(settings) == publisher.published, f"stored {stored(settings)} of {publisher.published}"
    with connect_sync(settings) as conn:  # redeliveries are neither rejected nor flagged
        letters = conn.execute("SELECT reason, count(*) AS n FROM dead_letters GROUP BY 1").fetchall()
    # A first delivery that the client re-sent out of order across the broker's restart carries new
    # data under an older seq: it is stored (counted above) and flagged, never rejected. Only
    # messages that wrote new rows can be flagged, so a redelivery never is.
    assert {r["reason"]: r["n"] for r in letters if r["reason"] != "seq_regressed"} == {}


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnMosquitto]:
    broker = OwnMosquitto(tmp_path / "mosquitto")
    yield broker
    if broker.proc and broker.proc.poll() is None:
        broker.stop()


def test_kill_9_of_an_ingest_worker_loses_nothing(settings: Settings) -> None:
    vins = fleet(settings)
    with running_server(settings, "--ingest-workers", "2") as pid:
        publisher = SteadyPublisher(settings.require_mqtt_url(), settings.mqtt_topic_prefix, vins, 150, 15).start()
        time.sleep(5)
        victim = ingest_pids(pid)[-1]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in ingest_pids(pid) and len(ingest_pids(pid)) == 2, timeout=20)
        assert_exactly_once(settings, publisher)


def test_mosquitto_restart_loses_nothing(database_url: str, own_broker: OwnMosquitto) -> None:
    settings = make_settings(database_url, own_broker.url)
    asyncio.run(upgrade(settings))
    try:
        vins = fleet(settings)
        with running_server(settings):
            publisher = SteadyPublisher(own_broker.url, settings.mqtt_topic_prefix, vins, 150, 15).start()
            time.sleep(5)
            own_broker.stop()
            time.sleep(2)
            own_broker.start()
            assert_exactly_once(settings, publisher)
    finally:
        drop_schema(settings)


def test_postgresql_down_for_30_s_loses_nothing(tmp_path: Path, mqtt_url: str) -> None:
    """The outage outlasts TELEMETRY_SPOOL_AFTER_S, so part of it goes through the disk spool."""
    database = OwnPostgres(tmp_path)
    try:
        settings = make_settings(database.url, mqtt_url, spool_after_s=5, data_dir=tmp_path / "data")
        asyncio.run(upgrade(settings))
        vins = fleet(settings)
        with running_server(settings):
            publisher = SteadyPublisher(mqtt_url, settings.mqtt_topic_prefix, vins, 100, 40).start()
            time.sleep(4)
            database.stop()
            time.sleep(30)
            database.start()
            assert_exactly_once(settings, publisher)
            metrics = httpx.get(f"http://127.0.0.1:{settings.api_port}/metrics", timeout=10).text
            spooled = [
                line for line in metrics.splitlines() if line.startswith("telemetry_ingest_spooled_messages_total")
            ]
            assert spooled
            assert float(spooled[0].split()[-1]) > 0
            assert list((tmp_path / "data" / "spool").rglob("*.arrow")) == []
    finally:
        database.close()
