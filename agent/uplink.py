"""The agent's MQTT side: upload the buffer in the order it was filled, answer commands.

Live data (a few seconds waiting) goes as JSON; a backlog (more than `backlog_samples` waiting,
after an outage) as Arrow batches, numbers only, DTC lists still as JSON. Messages are paced under
the server's per-vehicle rate limit. A buffered row is forgotten only once the broker acknowledged
(PUBACK) the message that carried it; what was in flight when the connection or the power went is
sent again, and the server's idempotent storage keeps one copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time

import aiomqtt

from agent.buffer import Buffer, Stored, split_codes
from agent.config import AgentConfig
from agent.features import Features
from agent.messages import Report, arrow_payload, json_payload
from telemetry.catalog import default_catalog
from telemetry.mqtt import make_client, payload_bytes
from telemetry.timeutil import now_ms
from telemetry.topics import COMMAND_ACKS, COMMANDS, TELEMETRY, TELEMETRY_ARROW, vehicle_topic

log = logging.getLogger(__name__)
EXPIRY_CHECK_S = 30.0


class Pacer:
    """At most `per_second` messages a second, evenly spaced."""

    def __init__(self, per_second: float) -> None:
        self.interval, self.next_at = 1.0 / per_second, 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self.next_at > now:
            await asyncio.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


def tls_context(config: AgentConfig) -> ssl.SSLContext | None:
    broker = config.broker
    if not broker.url.startswith("mqtts"):
        return None
    context = ssl.create_default_context(cafile=str(broker.ca_file) if broker.ca_file else None)
    if broker.client_cert is not None and broker.client_key is not None:
        context.load_cert_chain(str(broker.client_cert), str(broker.client_key))
    return context


class Uplink:
    def __init__(self, config: AgentConfig, buffer: Buffer, features: Features) -> None:
        self.config, self.buffer, self.features = config, buffer, features
        self.wake = asyncio.Event()  # set when new samples are in the buffer
        self.pacer = Pacer(config.upload.max_messages_per_s)
        self.uploaded = 0  # samples acknowledged by the broker since start
        prefix = config.broker.topic_prefix
        self.topics = {kind: vehicle_topic(prefix, config.vin, kind)
                       for kind in (TELEMETRY, TELEMETRY_ARROW, COMMANDS, COMMAND_ACKS)}  # fmt: skip
        self._reported: tuple[str | None, int] | None = None  # (software, dropped) the server has heard
        self.booleans = default_catalog().boolean_paths

    def client(self) -> aiomqtt.Client:
        """A persistent session: commands sent while the car was offline wait at the broker."""
        return make_client(self.config.broker.url, self.config.vin, persistent=True, tls=tls_context(self.config))

    async def session(self, client: aiomqtt.Client) -> None:
        self._reported = None  # tell the software version again on every connection
        await client.subscribe(self.topics[COMMANDS], qos=1)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._answer_commands(client))
            tasks.create_task(self._upload(client))

    async def _answer_commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if str(message.topic) != self.topics[COMMANDS]:
                continue
            ack = await asyncio.to_thread(self.features.handle, payload_bytes(message), now_ms())
            await client.publish(self.topics[COMMAND_ACKS], ack.payload(), qos=1)

    async def _upload(self, client: aiomqtt.Client) -> None:
        upload = self.config.upload
        while True:
            waiting = await asyncio.to_thread(self.buffer.waiting)
            if waiting == 0:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=upload.live_interval_s)
                continue
            backlog = waiting > upload.backlog_samples and self._reported == self._report_state()
            rows = await asyncio.to_thread(self.buffer.head, upload.arrow_rows if backlog else upload.json_rows)
            await self._send(client, rows, backlog)
            await asyncio.to_thread(self.buffer.acknowledge, rows[-1].seq)
            self.uploaded += len(rows)

    def _report_state(self) -> tuple[str | None, int]:
        return self.config.software_version, self.buffer.dropped()

    async def _send(self, client: aiomqtt.Client, rows: list[Stored], backlog: bool) -> None:
        """Publish `rows` (QoS 1, each publish waits for the broker's PUBACK)."""
        numbers, lists = split_codes(rows) if backlog else ([], rows)
        if numbers:
            await self.pacer.wait()
            await client.publish(self.topics[TELEMETRY_ARROW], arrow_payload(numbers), qos=1)
        if lists:
            state = self._report_state()
            seq = await asyncio.to_thread(self.buffer.next_message_seq)
            report = Report(seq, state[0], state[1] or None)
            await self.pacer.wait()
            payload = json_payload(self.config.vin, lists, report, self.booleans)
            await client.publish(self.topics[TELEMETRY], payload, qos=1)
            self._reported = state
