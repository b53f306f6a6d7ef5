"""The rule worker: owns some VIN-hash partitions, evaluates their batches, writes alerts, then acks."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiomqtt
import numpy as np
import psycopg

from rules.definitions import Rule, load_rules
from rules.engine import Outcome, RuleEngine, VehicleInfo
from telemetry import rulebatch
from telemetry.catalog import Catalog, default_catalog
from telemetry.errors import RuleDefinitionError
from telemetry.metrics import ALERT_EVENTS, RULE_BATCH_SECONDS
from telemetry.mqtt import Backoff, ack, make_client, run_forever
from telemetry.settings import Settings
from telemetry.storage import alerts, rulestate, services
from telemetry.storage.db import connect
from telemetry.storage.samples import read_series
from telemetry.timeutil import now_ms, to_datetime
from telemetry.topics import partition_of, rules_client_id, rules_topic

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
        rules: list[Rule] | None = None,
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
        self._db_lock = asyncio.Lock()  # the ticker and the message loop share one connection
        self._unsaved: set[int] = set()  # vehicles whose in-memory state a failed commit left ahead
        self._services_seen = 0  # newest service_events id taken into account
        self._layout_saved = ""  # the state layout known to be in rule_state_layouts

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
        await self._with_database(self.load_fleet)
        for p in self.partitions:
            await client.subscribe(rules_topic(prefix, p), qos=1)
        log.info("%s: %d rule(s) over partitions %s", self.client_id, len(self.rules), self.partitions)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._ticker())
            async for message in client.messages:
                if time.monotonic() >= self._next_rules_check:
                    self._next_rules_check = time.monotonic() + RULES_CHECK_INTERVAL_S
                    self.reload_if_changed()
                received = time.monotonic()
                payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload or b"")
                batch = rulebatch.decode(payload, self.catalog)
                await self._with_database(lambda conn, b=batch: self.apply(conn, b))
                RULE_BATCH_SECONDS.observe(time.monotonic() - received)
                ack(client, message)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.settings.rule_tick_s)
            await self._with_database(lambda conn: self.tick(conn, now_ms()))

    async def _with_database(self, work: Callable[[psycopg.AsyncConnection], Awaitable[None]]) -> None:
        backoff = Backoff(cap=10.0)
        async with self._db_lock:
            while True:
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = await connect(self.settings)
                    await self._restore_unsaved(self.conn)
                    await work(self.conn)
                    return
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    log.warning("%s: database unavailable (%s); retrying", self.client_id, exc)
                    self.conn = None
                    await backoff.wait()

    async def load_fleet(self, conn: psycopg.AsyncConnection) -> None:
        """Register every vehicle of our partitions with its saved state, so that silence and
        calendar rules see vehicles that have not sent anything since the restart."""
        await self._register(conn, None)

    async def _register(self, conn: psycopg.AsyncConnection, vehicle_ids: list[int] | None) -> None:
        rows = await rulestate.fleet(conn, vehicle_ids)
        partitions = set(self.partitions)
        mine = [r for r in rows if partition_of(str(r["vin"]), self.settings.rule_partitions) in partitions]
        for r in mine:
            vid = int(r["id"])
            if self.engine.knows(vid):
                continue
            self.engine.register(VehicleInfo(vid, r["powertrain"], r["make"], r["model"]))
            if r["state"] is not None:
                self.engine.unpack(vid, bytes(r["state"]), r["layout"])
        found, newest = await services.baselines(conn, vehicle_ids=[int(r["id"]) for r in mine])
        for vid, (ts, km) in found.items():
            self.engine.set_service(vid, ts, km)
        if vehicle_ids is None:
            self._services_seen = newest
        self.engine.touched.clear()  # loaded state is saved state
        await conn.commit()

    async def _restore_unsaved(self, conn: psycopg.AsyncConnection) -> None:
        """After a failed commit, go back to the last saved state of the vehicles it touched."""
        if not self._unsaved:
            return
        rows = {int(r["id"]): r for r in await rulestate.fleet(conn, sorted(self._unsaved))}
        for vid in self._unsaved:
            self.engine.reset(vid)
            row = rows.get(vid)
            if row is not None and row["state"] is not None:
                self.engine.unpack(vid, bytes(row["state"]), row["layout"])
        self._unsaved.clear()
        await conn.commit()

    async def apply(self, conn: psycopg.AsyncConnection, batch: rulebatch.RuleBatch) -> None:
        """Evaluate a batch; its alerts and the new state of its vehicles commit together.

        If the worker dies before the commit, the batch is redelivered and replayed on the state
        saved before it; after the commit, a redelivered batch holds only samples the state has
        seen, which the kernels skip. Either way no alert fires twice and no duration is lost.
        """
        vehicles = sorted({int(v) for v in batch.vehicle_id})
        unknown = [v for v in vehicles if not self.engine.knows(v)]
        if unknown:
            await self._register(conn, unknown)
        known = [v for v in vehicles if self.engine.knows(v)]
        before = self.engine.pack(known)
        outcomes = self.engine.evaluate(batch)
        after = self.engine.pack(known)
        self.engine.touched.clear()
        changed = np.flatnonzero((before != after).any(axis=1))
        await self._commit(conn, outcomes, [known[i] for i in changed], after[changed])

    async def tick(self, conn: psycopg.AsyncConnection, now: int) -> None:
        """New services recorded through the API, then what the clock decides."""
        found, newest = await services.baselines(conn, after_id=self._services_seen)
        for vid, (ts, km) in found.items():
            self.engine.set_service(vid, ts, km)
        outcomes = self.engine.tick(now)
        touched = sorted(self.engine.touched)
        self.engine.touched.clear()
        await self._commit(conn, outcomes, touched, self.engine.pack(touched))
        self._services_seen = newest

    async def _commit(
        self, conn: psycopg.AsyncConnection, outcomes: list[Outcome], vehicle_ids: list[int], packed: np.ndarray
    ) -> None:
        try:
            async with conn.transaction():
                if self._layout_saved != self.engine.layout_id:
                    await rulestate.ensure_layout(conn, self.engine.layout_id, self.engine.layout)
                reopen_within = timedelta(seconds=self.settings.alert_reopen_within_s)
                for outcome in outcomes:
                    await record(conn, outcome, reopen_within=reopen_within)
                await rulestate.save(conn, self.engine.layout_id, vehicle_ids, [row.tobytes() for row in packed])
            self._layout_saved = self.engine.layout_id
        except BaseException:
            self._unsaved.update(vehicle_ids)  # evaluate again from the saved state
            raise


EVIDENCE_POINTS = 120


async def record(conn: psycopg.AsyncConnection, outcome: Outcome, *, reopen_within: timedelta) -> None:
    rule = outcome.rule
    if outcome.fired:
        await alerts.fire(
            conn,
            alerts.Firing(
                vehicle_id=outcome.vehicle_id,
                rule_id=rule.id,
                rule_version=rule.version,
                severity=outcome.severity,
                title=rule.title,
                explanation=outcome.explanation(),
                first_seen=to_datetime(outcome.since if outcome.since >= 0 else outcome.ts),
                last_seen=to_datetime(outcome.ts),
                peak_value=outcome.value if math.isfinite(outcome.value) else None,
                evidence=await evidence(conn, outcome),
            ),
            reopen_within=reopen_within,
        )
        log.info("alert %s (%s) on vehicle %d", rule.id, outcome.severity, outcome.vehicle_id)
    else:
        await alerts.clear(conn, alerts.Clearing(outcome.vehicle_id, rule.id, to_datetime(outcome.ts)))
    ALERT_EVENTS.labels(rule.id, "fired" if outcome.fired else "cleared").inc()


async def evidence(conn: psycopg.AsyncConnection, outcome: Outcome) -> dict[str, object]:
    """What the advisor sees behind the alert: the numbers, and the signal's samples over the
    window that made it fire (at most EVIDENCE_POINTS, evenly thinned)."""
    c = outcome.condition
    out: dict[str, object] = {
        "kind": c.kind,
        "condition": c.name,
        "to": to_datetime(outcome.ts).isoformat(),
        "value": _finite(outcome.value),
        "detail": _finite(outcome.detail),
        "limit": _finite(c.limit),
        "context": {k: _finite(v) for k, v in outcome.context.items()},
    }
    if outcome.since >= 0:
        out["from"] = to_datetime(outcome.since).isoformat()
    if c.kind == "trend" and math.isfinite(outcome.detail):
        out["projected"] = to_datetime(int(outcome.detail)).isoformat()
    if outcome.escalated:
        out["escalated"] = True
    if c.signal is not None and c.signal.kind == "number" and outcome.since >= 0:
        out |= {"signal": c.signal.path, "unit": c.signal.unit}
        rows = await read_series(
            conn,
            vehicle_id=outcome.vehicle_id,
            signal=c.signal,
            start=to_datetime(outcome.since),
            end=to_datetime(outcome.ts + 1),
            limit=20 * EVIDENCE_POINTS,
        )
        step = max(1, math.ceil(len(rows) / EVIDENCE_POINTS))
        out["samples"] = [[ts.isoformat(), v] for ts, v in rows[::step]]
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def main(settings: Settings, partitions: list[int] | None = None, index: int = 0) -> None:
    asyncio.run(RuleWorker(settings, partitions=partitions, index=index).run())
