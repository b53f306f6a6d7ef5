"""A simulated fleet: registration through the API, then real-time publishing over MQTT."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from simulators.vehicle import MODELS, SimVehicle
from telemetry.errors import ConfigError
from telemetry.mqtt import publisher
from telemetry.topics import TELEMETRY, vehicle_topic

log = logging.getLogger(__name__)
FAULT_TYPES = ("overheat",)


@dataclass(frozen=True)
class FaultSpec:
    counts: dict[str, int]

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """`overheat:2` (two vehicles get the fault); several as `a:1,b:3`; empty: none."""
        counts: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, count = part.partition(":")
            if name not in FAULT_TYPES or not count.isdigit():
                raise ConfigError(f"fault spec {part!r}: use NAME:COUNT with NAME in {', '.join(FAULT_TYPES)}")
            counts[name] = int(count)
        return cls(counts)


def build_fleet(count: int, faults: FaultSpec, seed: int) -> list[SimVehicle]:
    rng = random.Random(seed)
    fleet = []
    combustion = [m for m in MODELS if m.powertrain != "electric"]
    todo = [name for name, n in faults.counts.items() for _ in range(n)]
    for i in range(count):
        fault = todo.pop() if todo else None
        model = combustion[i % len(combustion)] if fault else MODELS[i % len(MODELS)]
        fleet.append(SimVehicle.create(random.Random(rng.random()), model, {fault} if fault else None))
    return fleet


async def register(fleet: list[SimVehicle], api_url: str) -> None:
    """Create a dealer, one customer per vehicle and the vehicles; re-running finds them registered."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        dealers = (await http.get("/dealers")).raise_for_status().json()
        dealer = next((d for d in dealers if d["code"] == "SIM"), None)
        if dealer is None:
            created = await http.post("/dealers", json={"code": "SIM", "name": "Simulator Motors"})
            dealer = created.raise_for_status().json()
        for i, v in enumerate(fleet):
            if (await http.get(f"/vehicles/{v.vin}")).status_code == 200:
                continue
            customer = (
                (
                    await http.post(
                        "/customers",
                        json={
                            "name": f"Simulated Driver {i + 1}",
                            "email": f"driver{i + 1}@example.com",
                            "dealer_id": dealer["id"],
                        },
                    )
                )
                .raise_for_status()
                .json()
            )
            (
                await http.post(
                    "/vehicles",
                    json={
                        "vin": v.vin,
                        "make": v.model.make,
                        "model": v.model.model,
                        "model_year": 2024,
                        "powertrain": v.model.powertrain,
                        "owner_customer_id": customer["id"],
                        "dealer_id": dealer["id"],
                    },
                )
            ).raise_for_status()


async def publish(
    fleet: list[SimVehicle],
    mqtt_url: str,
    *,
    prefix: str = "",
    rate_hz: float = 1.0,
    duration_s: float | None = None,
    on_tick: Callable[[int, float], None] | None = None,
) -> int:
    """Publish each vehicle's sample `rate_hz` times a second, in real time; returns messages sent."""
    period = 1.0 / rate_hz
    sent = 0
    started = time.monotonic()
    seq = 0
    async with publisher(mqtt_url, f"sim-{random.getrandbits(32):08x}") as client:
        while duration_s is None or time.monotonic() - started < duration_s:
            tick = time.monotonic()
            ts = time.time_ns() // 1_000_000
            seq += 1
            for v in fleet:
                payload = orjson.dumps({"vin": v.vin, "seq": seq, "samples": [{"ts": ts, "signals": v.step(period)}]})
                await client.publish(vehicle_topic(prefix, v.vin, TELEMETRY), payload, qos=1)
                sent += 1
            if on_tick:
                on_tick(sent, time.monotonic() - started)
            await asyncio.sleep(max(0.0, period - (time.monotonic() - tick)))
    return sent
