"""`telemetry demo`: the whole server and a simulated fleet on one machine, alerts printed as they come."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import threading
import time

import httpx

from server.localservices import embedded_database, find_or_start_broker
from server.supervisor import StopRequested, Supervisor, plan, prepare_broker_sessions, request_stop
from simulators.fleet import Fleet
from simulators.publish import PublishPlan, live_plan, publish
from simulators.register import auth_headers, register
from simulators.scenario import Scenario
from telemetry.errors import ConfigError
from telemetry.mqtt import redacted
from telemetry.settings import Settings
from telemetry.storage import apikeys
from telemetry.storage.db import connect_sync
from telemetry.storage.migrate import upgrade

log = logging.getLogger(__name__)
SEEDS_TRIED = 50


def run_demo(settings: Settings, *, vehicles: int, faults: str, duration: float | None) -> None:
    started: list[subprocess.Popen[bytes]] = []
    if not settings.database_url:
        settings = settings.model_copy(update={"database_url": embedded_database(settings.data_dir)})
    if not settings.mqtt_url:
        url, proc = find_or_start_broker(settings.data_dir)
        settings = settings.model_copy(update={"mqtt_url": url})
        if proc:
            started.append(proc)
    asyncio.run(upgrade(settings))
    with connect_sync(settings) as conn:
        key, _ = apikeys.create_sync(conn, role="admin", name="telemetry demo")
    asyncio.run(prepare_broker_sessions(settings, 1, 1))
    supervisor = Supervisor(
        settings, plan(1, 1, settings.rule_partitions, commands=settings.command_secret is not None)
    )
    for signum in (signal.SIGTERM, signal.SIGINT):  # both end the demo the same way
        signal.signal(signum, request_stop)
    api = f"http://{settings.api_host}:{settings.api_port}"
    try:
        supervisor.start()
        _wait_for_api(api)
        publishing, fleet = _fleet(settings, vehicles, faults, duration, api, key)
        asyncio.run(register(fleet, api, api_key=key))
        faulty = [f"{label.vin} ({label.fault})" for label in fleet.labels()]
        print(f"\nServer up. API docs: {api}/docs   health: {api}/health   dead letters: {api}/dead-letters")
        print(
            f"Publishing {vehicles} vehicles at 1 Hz to {redacted(settings.require_mqtt_url())};"
            f" faults: {', '.join(faulty) or 'none'}"
        )
        print(f"An admin API key for this demo: {key}")
        print(f"Try: curl -H 'Authorization: Bearer {key}' '{api}/vehicles/{fleet.vins[0]}/signals/Vehicle.Speed'")
        print(f"The advisor's queue, one row per problem: {api}/console/ (sign in with the key above)")
        print(
            "Alerts appear below as the rule engine raises them, each with its incident (Ctrl-C stops).\n", flush=True
        )
        watcher = threading.Thread(target=_print_alerts, args=(fleet.vins, api, key), daemon=True, name="alerts")
        watcher.start()
        publish(publishing)
    except StopRequested:
        pass
    finally:
        supervisor.stop()
        for proc in started:
            proc.terminate()


def _fleet(
    settings: Settings, vehicles: int, faults: str, duration: float | None, api: str, key: str
) -> tuple[PublishPlan, Fleet]:
    """Every vehicle on the road, one message a second, faults that develop in minutes. The first
    seed from now on whose fleet has vehicles for the faults (a small fleet may lack combustion
    cars for `overheating`, say)."""
    first = int(time.time())
    for seed in range(first, first + SEEDS_TRIED):
        scenario = Scenario(vehicles=vehicles, seed=seed, faults=faults, usage="always")
        scenario = scenario.with_values({"drive_interval_s": "1", "park_interval_s": "1"})
        publishing = live_plan(
            scenario, settings.require_mqtt_url(), duration_s=duration, prefix=settings.mqtt_topic_prefix,
            processes=1, api_url=api, api_key=key, faults_start_within_s=1.0,
        )  # fmt: skip
        try:
            return publishing, Fleet(publishing.scenario, fault_window=publishing.fault_window)
        except ConfigError as exc:
            error = exc
    raise ConfigError(f"{error} in {SEEDS_TRIED} fleets of {vehicles}: ask for fewer faults or more vehicles")


def _wait_for_api(api: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API did not come up at {api}")


def _print_alerts(vins: list[str], api: str, key: str) -> None:
    seen: set[int] = set()
    with httpx.Client(base_url=api, timeout=10, headers=auth_headers(key)) as http:
        while True:
            time.sleep(2)
            for vin in vins:
                try:
                    alerts = http.get(f"/vehicles/{vin}/alerts").json()
                    for alert in alerts:
                        if alert["id"] in seen:
                            continue
                        seen.add(alert["id"])
                        vehicle = http.get(f"/vehicles/{vin}").json()
                        incident = ""
                        if alert.get("incident_id") is not None:
                            found = http.get(f"/incidents/{alert['incident_id']}").json()
                            count = len(found.get("alerts", []))
                            incident = (
                                f"\n      incident {found['id']}: {found['title']} ({count} alert(s) as evidence)"
                            )
                        print(
                            f"ALERT [{alert['severity']}] {alert['title']} on {vin}: {alert['explanation']}{incident}"
                            f"\n      customer record: {api}/console/customers/{vehicle['owner_customer_id']}",
                            flush=True,
                        )
                except httpx.HTTPError:
                    continue
