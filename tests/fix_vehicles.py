"""A vehicle that takes software options: the simulator's command handling on a live MQTT
connection, and the option the tests offer it."""

from __future__ import annotations

import asyncio
import threading
from typing import ClassVar

import aiomqtt
import orjson

from simulators.commands import CommandResponder
from telemetry.mqtt import make_client
from telemetry.settings import Settings
from telemetry.topics import COMMANDS, vehicle_topic

HEATED_SEATS = {
    "code": "heated_seats", "name": "Heated front seats", "models": ["Compact 1.5"], "min_software_version": "2.0",
    "requires_hardware": ["seat_heaters"], "price_model": "monthly", "price": "9.90", "currency": "EUR",
    "trial_days": 30,
}  # fmt: skip


class SimulatedVehicle(threading.Thread):
    """The simulator's command handling on a live MQTT connection: checks signatures, applies,
    acknowledges. `received` are the command payloads that reached it. Each test's vehicles are
    taken offline when it ends (`take_all_offline`)."""

    started: ClassVar[list[SimulatedVehicle]] = []

    def __init__(self, settings: Settings, vin: str) -> None:
        super().__init__(daemon=True)
        s = settings
        self.url, self.prefix, self.vin = s.require_mqtt_url(), s.mqtt_topic_prefix, vin
        secret = s.command_secret.get_secret_value().encode()  # type: ignore[union-attr]
        self.responder = CommandResponder(self.prefix, [vin], secret)
        self.received: list[dict] = []
        self.ready = threading.Event()
        self.stopping = threading.Event()

    def enabled(self) -> dict[str, int | None]:
        return dict(self.responder.state.enabled.get(self.vin, {}))

    def start(self) -> None:
        SimulatedVehicle.started.append(self)
        super().start()

    @classmethod
    def take_all_offline(cls) -> None:
        """Stop every vehicle started so far (each test's, when it ends)."""
        while cls.started:
            car = cls.started.pop()
            car.stopping.set()
            car.join(10)

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        async with make_client(self.url, f"{self.prefix}vehicle-{self.vin}", persistent=False) as client:
            await client.subscribe(vehicle_topic(self.prefix, self.vin, COMMANDS), qos=1)
            self.ready.set()
            # One receiving task, cancelled only when the test ends: a receive cancelled by a
            # timeout (asyncio.wait_for on 3.11) can lose the message it was taking.
            answering = asyncio.create_task(self._answer(client))
            await asyncio.to_thread(self.stopping.wait)  # set from the test's thread
            answering.cancel()

    async def _answer(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = bytes(message.payload)  # type: ignore[arg-type]
            self.received.append(orjson.loads(payload))
            reply = self.responder.handle(str(message.topic), payload)
            if reply is not None:
                await client.publish(reply[0], reply[1], qos=1)
