"""The ingest worker: consume telemetry, store each batch, forward it to the rules, then acknowledge.

Order per batch: commit samples and dead letters in one transaction -> publish the batch to the
rule partitions (QoS 1) -> acknowledge the MQTT messages. A crash anywhere before the last step
makes the broker redeliver; storing is idempotent, so redelivery adds nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiomqtt
import numpy as np
import psycopg

from ingest.codec import Limits
from ingest.pipeline import Prepared, Received, flag_seq_regressions, parse, prepare
from ingest.ratelimit import VehicleRateLimiter
from ingest.rollup import keep_rolling_up
from ingest.spool import Spool
from telemetry import metrics, rulebatch
from telemetry.catalog import Catalog, default_catalog
from telemetry.mqtt import Backoff, ack, make_client, payload_bytes, run_forever
from telemetry.settings import Settings
from telemetry.storage import deadletters, fleet
from telemetry.storage.db import Conn, connect
from telemetry.storage.layout import NATIVE, samples_layout
from telemetry.storage.partitions import PartitionManager, day_of
from telemetry.storage.samples import SampleWriter
from telemetry.timeutil import MS_PER_DAY, now_ms
from telemetry.topics import ingest_client_id, ingest_subscriptions, parse_vehicle_topic, rules_topic

log = logging.getLogger(__name__)


class IngestWorker:
    def __init__(
        self, settings: Settings, *, index: int = 0, shared: bool = False, catalog: Catalog | None = None
    ) -> None:
        self.settings = settings
        self.index = index
        self.shared = shared
        self.catalog = catalog or default_catalog()
        self.limits = Limits.from_settings(settings)
        self.writer = SampleWriter(self.catalog)
        self.partitions = PartitionManager()
        self.vehicles: dict[str, tuple[int, int]] = {}
        self.highest_seq: dict[int, int | None] = {}  # per vehicle id, as this worker saw it
        self.rate_limiter = VehicleRateLimiter(settings.vehicle_max_messages_per_s, settings.vehicle_burst_messages)
        self.conn: Conn | None = None
        self._db_lock = asyncio.Lock()
        self.spool = Spool(settings.data_dir / "spool" / self.client_id, settings.spool_max_bytes)

    @property
    def client_id(self) -> str:
        return ingest_client_id(self.settings.mqtt_client_id, self.index)

    async def run(self) -> None:
        url = self.settings.require_mqtt_url()
        async with asyncio.TaskGroup() as tasks:
            if self.index == 0:
                tasks.create_task(keep_rolling_up(self.settings, self.catalog), name="hourly-rollup")
            await run_forever(self.client_id, lambda: make_client(url, self.client_id, manual_ack=True), self._session)

    async def _session(self, client: aiomqtt.Client) -> None:
        for topic in ingest_subscriptions(self.settings.mqtt_topic_prefix, shared=self.shared):
            await client.subscribe(topic, qos=1)
        batch = _PendingBatch(self.settings.ingest_batch_max_messages)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._read(client, batch), name=f"{self.client_id}-read")
            tasks.create_task(self._flush(client, batch), name=f"{self.client_id}-flush")
            tasks.create_task(self._drain_spool(client), name=f"{self.client_id}-drain-spool")

    async def _read(self, client: aiomqtt.Client, batch: _PendingBatch) -> None:
        """Move messages into the pending batch. The iterator is never cancelled while the connection
        lives (a timed-out read could take a message and drop it un-acknowledged until a reconnect)."""
        async for message in client.messages:
            await batch.room.wait()
            payload = payload_bytes(message)
            topic, received_ms = message.topic.value, now_ms()
            where = parse_vehicle_topic(self.settings.mqtt_topic_prefix, topic)
            over_rate = where is not None and not self.rate_limiter.allow(where[0], received_ms / 1000)
            batch.add(message, Received(topic, payload, received_ms, over_rate))

    async def _flush(self, client: aiomqtt.Client, batch: _PendingBatch) -> None:
        """Store a batch when it is full or its first message has waited long enough, then ack it."""
        max_wait = self.settings.ingest_batch_max_wait_ms / 1000
        while True:
            await batch.started.wait()
            remaining = batch.first_at + max_wait - time.monotonic()
            if remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(batch.full.wait(), remaining)
            messages, received = batch.take()
            await self._store_and_forward(client, received)
            for m in messages:
                ack(client, m)
            metrics.RECEIVE_TO_COMMIT_SECONDS.observe((now_ms() - received[0].received_ms) / 1000)

    async def _store_and_forward(self, client: aiomqtt.Client, received: list[Received]) -> None:
        """Store (retrying while the database is down), or spool once the outage is long; then forward."""
        backoff = Backoff(cap=10.0)
        failing_since: float | None = None
        while True:
            try:
                prepared = await self._store(received)
                break
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                metrics.DATABASE_RETRIES.inc()
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since >= self.settings.spool_after_s and self.spool.has_room():
                    await asyncio.to_thread(self.spool.write, received)  # fsync: off the event loop
                    metrics.SPOOLED.inc(len(received))
                    metrics.SPOOL_FILES.set(len(self.spool.files()))
                    log.warning(
                        "%s: database unavailable (%s); spooled %d messages", self.client_id, exc, len(received)
                    )
                    return
                log.warning("%s: database unavailable (%s); retrying, nothing acknowledged", self.client_id, exc)
                await backoff.wait()
        await self._forward(client, prepared)

    async def _forward(self, client: aiomqtt.Client, prepared: Prepared) -> None:
        prefix = self.settings.mqtt_topic_prefix
        for partition, batch in prepared.rule_batches.items():
            await client.publish(rules_topic(prefix, partition), rulebatch.encode(batch, self.catalog), qos=1)

    async def _drain_spool(self, client: aiomqtt.Client) -> None:
        """Replay spooled batches, oldest first, whenever the database answers."""
        while True:
            for path in self.spool.files():
                try:
                    prepared = await self._store(await asyncio.to_thread(Spool.read, path), in_order=False)
                except (psycopg.OperationalError, psycopg.InterfaceError):
                    break
                await self._forward(client, prepared)
                path.unlink()
                metrics.SPOOL_FILES.set(len(self.spool.files()))
                log.info("%s: replayed spooled batch %s", self.client_id, path.name)
            await asyncio.sleep(2.0)

    async def _store(self, received: list[Received], *, in_order: bool = True) -> Prepared:
        """One batch into the database; the live flush and the spool drain take turns on one connection.
        A spool replay is not `in_order`: its message counters are not compared with live ones."""
        async with self._db_lock:
            try:
                return await self._store_now(received, in_order)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                await self._drop_connection()
                raise

    async def _store_now(self, received: list[Received], in_order: bool) -> Prepared:
        conn = await self._connection()
        parsed = parse(received, prefix=self.settings.mqtt_topic_prefix, limits=self.limits, catalog=self.catalog)
        missing = [v for v in parsed.vins_to_look_up() if v not in self.vehicles]
        if missing:
            self.vehicles.update(await fleet.lookup_vehicles(conn, vins=missing))
        present = [self.vehicles[v][0] for v in parsed.vins_to_look_up() if v in self.vehicles]
        allowed = await fleet.location_allowed(conn, vehicle_ids=present) if present else set()
        await conn.commit()
        prepared = prepare(
            parsed,
            self.vehicles,
            catalog=self.catalog,
            limits=self.limits,
            writer=self.writer,
            partitions=self.settings.rule_partitions,
            now_ms=now_ms(),
            location_allowed=allowed,
        )
        days = {int(d) for d in np.unique(prepared.rows.ts // MS_PER_DAY)}
        days |= {day_of(t) for _v, t, _c in prepared.rows.dtc}
        await self.partitions.ensure(conn, days)
        with metrics.COMMIT_SECONDS.time():
            async with conn.transaction():
                changed = await self.writer.write(conn, prepared.rows)
                highest: dict[int, int] = {}
                if in_order:
                    flags, highest = flag_seq_regressions(parsed, prepared, changed, self.highest_seq)
                    prepared.dead.extend(flags)
                await deadletters.insert(conn, prepared.dead)
                await fleet.report_software_versions(conn, prepared.software_versions)
                await fleet.report_dropped_samples(conn, prepared.dropped_samples)
        self.highest_seq.update(highest)  # only once committed
        metrics.MESSAGES.inc(len(received))
        metrics.BATCH_MESSAGES.observe(len(received))
        metrics.SAMPLES.inc(prepared.accepted_values)
        for letter in prepared.dead:
            metrics.DEAD_LETTERS.labels(letter.rejection.reason.value).inc()
        if prepared.dead:
            log.info(
                "%s: dead-lettered %d item(s), first: %s",
                self.client_id,
                len(prepared.dead),
                prepared.dead[0].rejection.detail,
            )
        return prepared

    async def _connection(self) -> Conn:
        if self.conn is None or self.conn.closed:
            self.conn = await connect(self.settings)
            self.writer.mark_hours = await samples_layout(self.conn) == NATIVE
            await self.partitions.ensure_ahead(self.conn, now_ms())
        return self.conn

    async def _drop_connection(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        self.conn = None


class _PendingBatch:
    """Messages received and not yet stored. The next batch fills while the current one commits;
    reading pauses at four batches' worth, and the broker holds the rest."""

    def __init__(self, max_messages: int) -> None:
        self.max_messages = max_messages
        self.messages: list[aiomqtt.Message] = []
        self.received: list[Received] = []
        self.first_at = 0.0
        self.started = asyncio.Event()
        self.full = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def add(self, message: aiomqtt.Message, received: Received) -> None:
        if not self.messages:
            self.first_at = time.monotonic()
            self.started.set()
        self.messages.append(message)
        self.received.append(received)
        if len(self.messages) >= self.max_messages:
            self.full.set()
        if len(self.messages) >= 4 * self.max_messages:
            self.room.clear()
        metrics.PENDING.set(len(self.messages))

    def take(self) -> tuple[list[aiomqtt.Message], list[Received]]:
        """Up to one batch, oldest first; the rest stays for the next flush."""
        n = self.max_messages
        messages, self.messages = self.messages[:n], self.messages[n:]
        received, self.received = self.received[:n], self.received[n:]
        if self.messages:
            self.first_at = time.monotonic()
        else:
            self.started.clear()
        if len(self.messages) < self.max_messages:
            self.full.clear()
        self.room.set()
        metrics.PENDING.set(len(self.messages))
        return messages, received


def main(settings: Settings, index: int = 0, shared: bool = False) -> None:
    asyncio.run(IngestWorker(settings, index=index, shared=shared).run())
