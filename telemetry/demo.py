"""`telemetry demo`: the whole server and a simulated fleet on one machine, alerts printed as they come."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time

import httpx

from simulators.fleet import FaultSpec, build_fleet, publish, register
from telemetry.localservices import embedded_database, find_or_start_broker
from telemetry.mqtt import redacted
from telemetry.settings import Settings
from telemetry.storage.migrate import upgrade
from telemetry.supervisor import Supervisor, plan, prepare_broker_sessions

log = logging.getLogger(__name__)


def run_demo(settings: Settings, *, vehicles: int, faults: str, duration: float | None) -> None:
    spec = FaultSpec.parse(faults)
    started: list[subprocess.Popen[bytes]] = []
    if not settings.database_url:
        settings = settings.model_copy(update={"database_url": embedded_database(settings.data_dir)})
    if not settings.mqtt_url:
        url, proc = find_or_start_broker(settings.data_dir)
        settings = settings.model_copy(update={"mqtt_url": url})
        if proc:
            started.append(proc)
    asyncio.run(upgrade(settings))
    asyncio.run(prepare_broker_sessions(settings, 1, 1))
    supervisor = Supervisor(settings, plan(1, 1, settings.rule_partitions))
    supervisor.start()
    api = f"http://{settings.api_host}:{settings.api_port}"
    try:
        _wait_for_api(api)
        fleet = build_fleet(vehicles, spec, seed=int(time.time()))
        asyncio.run(register(fleet, api))
        faulty = [v.vin for v in fleet if v.faults]
        print(f"\nServer up. API docs: {api}/docs   health: {api}/health   dead letters: {api}/dead-letters")
        print(
            f"Publishing {vehicles} vehicles at 1 Hz to {redacted(settings.require_mqtt_url())};"
            f" overheating: {', '.join(faulty) or 'none'}"
        )
        if fleet:
            print(f"Try: curl '{api}/vehicles/{fleet[0].vin}/signals/Vehicle.Speed'")
        print("Alerts appear below as the rule engine raises them (Ctrl-C stops).\n", flush=True)
        asyncio.run(_publish_and_watch(fleet, settings, api, duration))
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop()
        for proc in started:
            proc.terminate()


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


async def _publish_and_watch(fleet: list, settings: Settings, api: str, duration: float | None) -> None:
    task = asyncio.create_task(
        publish(fleet, settings.require_mqtt_url(), prefix=settings.mqtt_topic_prefix, duration_s=duration)
    )
    seen: set[int] = set()
    async with httpx.AsyncClient(base_url=api, timeout=10) as http:
        while not task.done():
            await asyncio.sleep(2)
            for v in fleet:
                for alert in (await http.get(f"/vehicles/{v.vin}/alerts")).json():
                    if alert["id"] not in seen:
                        seen.add(alert["id"])
                        vehicle = (await http.get(f"/vehicles/{v.vin}")).json()
                        print(
                            f"ALERT [{alert['severity']}] {alert['title']} on {v.vin}: {alert['explanation']}"
                            f"\n      customer record: {api}/customers/{vehicle['owner_customer_id']}",
                            flush=True,
                        )
    await task
