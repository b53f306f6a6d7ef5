"""The ingest worker: consume telemetry, store each batch, forward it to the rules, then acknowledge.

Order per batch: commit samples and dead letters in one transaction -> publish the batch to the
rule partitions (QoS 1) -> acknowledge the MQTT messages. A crash anywhere before the last step
makes the broker redeliver; storing is idempotent, so redelivery adds nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiomqtt
import numpy as np
import psycopg

from ingest.pipeline import Prepared, Received, parse, prepare
from telemetry import rulebatch
from telemetry.catalog import Catalog, default_catalog
from telemetry.codec import Limits
from telemetry.mqtt import Backoff, ack, make_client, next_message, run_forever
from telemetry.settings import Settings
from telemetry.storage import deadletters, records
from telemetry.storage.db import connect
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.samples import SampleWriter
from telemetry.timeutil import MS_PER_DAY, now_ms
from telemetry.topics import ingest_client_id, ingest_subscription, rules_topic

log = logging.getLogger(__name__)


class IngestWorker:
    def __init__(self, settings: Settings, *, index: int = 0, catalog: Catalog | None = None) -> None:
        self.settings = settings
        self.index = index
        self.catalog = catalog or default_catalog()
        self.limits = Limits.from_settings(settings)
        self.writer = SampleWriter(self.catalog)
        self.partitions = PartitionManager()
        self.vehicles: dict[str, tuple[int, int]] = {}
        self.conn: psycopg.AsyncConnection | None = None
        self.stored_batches = 0

    @property
    def client_id(self) -> str:
        return ingest_client_id(self.settings.mqtt_client_id, self.index)

    async def run(self) -> None:
        url = self.settings.require_mqtt_url()
        await run_forever(self.client_id, lambda: make_client(url, self.client_id, manual_ack=True), self._session)

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.subscribe(ingest_subscription(self.settings.mqtt_topic_prefix), qos=1)
        max_wait = self.settings.ingest_batch_max_wait_ms / 1000
        messages = aiter(client.messages)
        pending: list[aiomqtt.Message] = []
        received: list[Received] = []
        deadline = 0.0
        while True:
            timeout = max(deadline - time.monotonic(), 0.0) if pending else 1.0
            message = await next_message(messages, timeout)
            if message is not None:
                if not pending:
                    deadline = time.monotonic() + max_wait
                pending.append(message)
                payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload or b"")
                received.append(Received(message.topic.value, payload, now_ms()))
            full = len(pending) >= self.settings.ingest_batch_max_messages
            if pending and (full or time.monotonic() >= deadline):
                await self._store_and_forward(client, received)
                for m in pending:
                    ack(client, m)
                pending, received = [], []

    async def _store_and_forward(self, client: aiomqtt.Client, received: list[Received]) -> None:
        backoff = Backoff(cap=10.0)
        while True:
            try:
                prepared = await self._store(received)
                break
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("%s: database unavailable (%s); retrying, nothing acknowledged", self.client_id, exc)
                await self._drop_connection()
                await backoff.wait()
        prefix = self.settings.mqtt_topic_prefix
        for partition, batch in prepared.rule_batches.items():
            await client.publish(rules_topic(prefix, partition), rulebatch.encode(batch, self.catalog), qos=1)
        self.stored_batches += 1

    async def _store(self, received: list[Received]) -> Prepared:
        conn = await self._connection()
        parsed = parse(received, prefix=self.settings.mqtt_topic_prefix, limits=self.limits)
        missing = [v for v in parsed.vins_to_look_up() if v not in self.vehicles]
        if missing:
            self.vehicles.update(await records.lookup_vehicles(conn, vins=missing))
            await conn.commit()
        prepared = prepare(
            parsed,
            self.vehicles,
            catalog=self.catalog,
            limits=self.limits,
            writer=self.writer,
            partitions=self.settings.rule_partitions,
            now_ms=now_ms(),
        )
        days = {int(d) for d in np.unique(prepared.rows.ts // MS_PER_DAY)}
        days |= {day_of(t) for _v, t, _c in prepared.rows.dtc}
        await self.partitions.ensure(conn, days)
        async with conn.transaction():
            await self.writer.write(conn, prepared.rows)
            await deadletters.insert(conn, prepared.dead)
        if prepared.dead:
            log.info(
                "%s: dead-lettered %d item(s), first: %s",
                self.client_id,
                len(prepared.dead),
                prepared.dead[0].rejection.detail,
            )
        return prepared

    async def _connection(self) -> psycopg.AsyncConnection:
        if self.conn is None or self.conn.closed:
            self.conn = await connect(self.settings)
            await self.partitions.ensure_ahead(self.conn, now_ms())
        return self.conn

    async def _drop_connection(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        self.conn = None


def main(settings: Settings, index: int = 0) -> None:
    asyncio.run(IngestWorker(settings, index=index).run())
