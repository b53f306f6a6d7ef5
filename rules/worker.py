"""The rule worker: owns some VIN-hash partitions, evaluates their batches, writes alerts, then acks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiomqtt
import psycopg
from psycopg.types.json import Jsonb

from rules.definitions import ThresholdRule, load_rules
from rules.engine import Outcome, RuleEngine, VehicleInfo
from telemetry import rulebatch
from telemetry.catalog import Catalog, default_catalog
from telemetry.errors import RuleDefinitionError
from telemetry.metrics import ALERT_EVENTS
from telemetry.mqtt import Backoff, ack, make_client, run_forever
from telemetry.settings import Settings
from telemetry.storage import alerts
from telemetry.storage.db import connect
from telemetry.timeutil import to_datetime
from telemetry.topics import rules_client_id, rules_topic

log = logging.getLogger(__name__)
RULES_CHECK_INTERVAL_S = 2.0


class RuleWorker:
    def __init__(
        self,
        settings: Settings,
        *,
        partitions: list[int] | None = None,
        index: int = 0,
        catalog: Catalog | None = None,
        rules: list[ThresholdRule] | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog or default_catalog()
        self.rules = rules if rules is not None else load_rules(self.catalog, settings.rules_dir)
        self.engine = RuleEngine(self.rules)
        self._rules_stamp = self._stamp()
        self._next_rules_check = 0.0
        self.partitions = partitions if partitions is not None else list(range(settings.rule_partitions))
        self.index = index
        self.conn: psycopg.AsyncConnection | None = None

    @property
    def client_id(self) -> str:
        return rules_client_id(self.settings.mqtt_client_id, self.index)

    def _stamp(self) -> tuple[tuple[str, float], ...]:
        folder = self.settings.rules_dir
        if folder is None:
            return ()
        return tuple(sorted((p.name, p.stat().st_mtime) for p in Path(folder).glob("*.toml")))

    def reload_if_changed(self) -> bool:
        """Pick up edited rule files without a restart. A file that does not validate is logged and
        the running rules stay; nothing is half-applied."""
        stamp = self._stamp()
        if stamp == self._rules_stamp:
            return False
        self._rules_stamp = stamp
        try:
            rules = load_rules(self.catalog, self.settings.rules_dir)
        except RuleDefinitionError as exc:
            log.error("%s: rule files not reloaded: %s", self.client_id, exc)
            return False
        self.rules, self.engine = rules, self.engine.with_rules(rules)
        log.info("%s: reloaded %d rule(s)", self.client_id, len(rules))
        return True

    async def run(self) -> None:
        url = self.settings.require_mqtt_url()
        await run_forever(self.client_id, lambda: make_client(url, self.client_id, manual_ack=True), self._session)

    async def _session(self, client: aiomqtt.Client) -> None:
        prefix = self.settings.mqtt_topic_prefix
        for p in self.partitions:
            await client.subscribe(rules_topic(prefix, p), qos=1)
        log.info("%s: %d rule(s) over partitions %s", self.client_id, len(self.rules), self.partitions)
        async for message in client.messages:
            if time.monotonic() >= self._next_rules_check:
                self._next_rules_check = time.monotonic() + RULES_CHECK_INTERVAL_S
                self.reload_if_changed()
            payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload or b"")
            batch = rulebatch.decode(payload, self.catalog)
            await self._with_database(lambda conn, b=batch: self.apply(conn, b))
            ack(client, message)

    async def _with_database(self, work: Callable[[psycopg.AsyncConnection], Awaitable[None]]) -> None:
        backoff = Backoff(cap=10.0)
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = await connect(self.settings)
                await work(self.conn)
                return
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("%s: database unavailable (%s); retrying", self.client_id, exc)
                self.conn = None
                await backoff.wait()

    async def apply(self, conn: psycopg.AsyncConnection, batch: rulebatch.RuleBatch) -> None:
        """Evaluate a batch; its alerts and the new state of its vehicles commit together.

        If the worker dies before the commit, the batch is redelivered and replayed on the state
        saved before it; after the commit, a redelivered batch holds only samples the state has
        seen, which the kernels skip. Either way no alert fires twice and no duration is lost.
        """
        vehicles = sorted({int(v) for v in batch.vehicle_id})
        unknown = [v for v in vehicles if not self.engine.knows(v)]
        if unknown:
            cur = await conn.execute(
                "SELECT v.id, v.powertrain, v.make, v.model, s.state FROM vehicles v"
                " LEFT JOIN rule_state s ON s.vehicle_id = v.id WHERE v.id = ANY(%s)",
                (unknown,),
            )
            for r in await cur.fetchall():
                self.engine.register(VehicleInfo(r["id"], r["powertrain"], r["make"], r["model"]))
                if r["state"]:
                    self.engine.restore(r["id"], r["state"])
            await conn.commit()
        before = {v: self.engine.state_of(v) for v in vehicles if self.engine.knows(v)}
        outcomes = self.engine.evaluate(batch)
        changed = {v: s for v in before if (s := self.engine.state_of(v)) != before[v]}
        try:
            async with conn.transaction():
                reopen_within = timedelta(seconds=self.settings.alert_reopen_within_s)
                for outcome in outcomes:
                    await record(conn, outcome, reopen_within=reopen_within)
                if changed:
                    await conn.execute(
                        "INSERT INTO rule_state (vehicle_id, state)"
                        " SELECT * FROM unnest(%s::integer[], %s::jsonb[])"
                        " ON CONFLICT (vehicle_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
                        (list(changed), [Jsonb(s) for s in changed.values()]),
                    )
        except BaseException:
            for v, saved in before.items():  # the batch comes again: evaluate it from the saved state
                self.engine.restore(v, saved)
            raise


async def record(conn: psycopg.AsyncConnection, outcome: Outcome, *, reopen_within: timedelta) -> None:
    rule = outcome.rule
    if outcome.fired:
        await alerts.fire(
            conn,
            alerts.Firing(
                vehicle_id=outcome.vehicle_id,
                rule_id=rule.id,
                rule_version=rule.version,
                severity=rule.severity,
                title=rule.title,
                explanation=rule.explain(peak=outcome.peak, duration_ms=outcome.ts - outcome.since),
                first_seen=to_datetime(outcome.since),
                last_seen=to_datetime(outcome.ts),
                peak_value=outcome.peak,
                evidence={
                    "signal": rule.signal.path,
                    "unit": rule.signal.unit,
                    "from": to_datetime(outcome.since).isoformat(),
                    "to": to_datetime(outcome.ts).isoformat(),
                    "peak": outcome.peak,
                    "threshold": rule.params.on_value,
                },
            ),
            reopen_within=reopen_within,
        )
        log.info("alert %s on vehicle %d: peak %.1f", rule.id, outcome.vehicle_id, outcome.peak)
    else:
        await alerts.clear(conn, alerts.Clearing(outcome.vehicle_id, rule.id, to_datetime(outcome.ts)))
    ALERT_EVENTS.labels(rule.id, "fired" if outcome.fired else "cleared").inc()


def main(settings: Settings, partitions: list[int] | None = None, index: int = 0) -> None:
    asyncio.run(RuleWorker(settings, partitions=partitions, index=index).run())
