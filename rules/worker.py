"""The rule worker: owns some VIN-hash partitions, evaluates their batches, writes alerts at once, and
acknowledges deliveries when a checkpoint has saved the engine state they produced."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiomqtt
import numpy as np
import psycopg

from rules import other_codes
from rules.definitions import load_rules
from rules.engine import RuleEngine
from rules.model import Rule
from rules.outcome import Outcome, VehicleInfo
from telemetry import dtc, rulebatch
from telemetry.catalog import Catalog, default_catalog
from telemetry.errors import RuleDefinitionError
from telemetry.metrics import ALERT_EVENTS, RULE_BATCH_SECONDS
from telemetry.mqtt import Backoff, ack_delivery, make_client, payload_bytes, run_forever
from telemetry.rulebatch import RuleBatch
from telemetry.settings import Settings
from telemetry.storage import alerts, fleet, incidents, offers, rulestate
from telemetry.storage.db import Conn, connect
from telemetry.storage.samples import read_series
from telemetry.timeutil import now_ms, to_datetime
from telemetry.topics import partition_of, rules_client_id, rules_topic

log = logging.getLogger(__name__)
RULES_CHECK_INTERVAL_S = 2.0
# Batches waiting when the worker gets to them are evaluated and committed together: one engine
# pass and one transaction, so a backlog drains faster instead of growing.
COALESCE_MESSAGES = 64
# Deliveries are acknowledged by checkpoints (every `rule_checkpoint_s`, or after this many), so
# the broker may have this many unacknowledged with us.
RECEIVE_MAXIMUM = 8192
CHECKPOINT_AFTER_MESSAGES = RECEIVE_MAXIMUM // 2


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
        self._other_codes: set[str] = set()  # codes outside the table that have rules of their own
        self._covered = other_codes.covered(self.rules)  # codes some rule watches (per batch: a set lookup)
        self._rules_stamp = self._stamp()
        self._next_rules_check = 0.0
        self.partitions = partitions if partitions is not None else list(range(settings.rule_partitions))
        self.index = index
        # autocommit: every write is an explicit `conn.transaction()`, and a plain read (the
        # service poll) cannot leave a transaction open that would swallow the next commits
        self.conn: Conn | None = None
        self._db_lock = asyncio.Lock()  # the ticker and the message loop share one connection
        self._dirty: set[int] = set()  # vehicles whose state changed since the last checkpoint
        self._unrecorded: list[Outcome] = []  # outcomes evaluated, their alert writes not committed yet
        self._to_ack: list[tuple[int, int]] = []  # (mid, qos) of deliveries the next checkpoint covers
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
        rules += other_codes.rules_for(rules, self._other_codes)
        self._use_rules(rules)
        log.info("%s: reloaded %d rule(s)", self.client_id, len(rules))
        return True

    async def run(self) -> None:
        url = self.settings.require_mqtt_url()
        await run_forever(
            self.client_id,
            lambda: make_client(url, self.client_id, manual_ack=True, receive_maximum=RECEIVE_MAXIMUM),
            self._session,
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        prefix = self.settings.mqtt_topic_prefix
        self._to_ack = []  # deliveries of a previous connection come again: the broker redelivers them
        await self.with_database(self.load_fleet)
        for p in self.partitions:
            await client.subscribe(rules_topic(prefix, p), qos=1)
        log.info("%s: %d rule(s) over partitions %s", self.client_id, len(self.rules), self.partitions)
        queue: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()

        async def receive() -> None:
            async for message in client.messages:
                queue.put_nowait(message)

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(receive())
            tasks.create_task(self._clock(client))
            while True:
                messages = [await queue.get()]
                received = time.monotonic()
                while not queue.empty() and len(messages) < COALESCE_MESSAGES:
                    messages.append(queue.get_nowait())
                if time.monotonic() >= self._next_rules_check:
                    self._next_rules_check = time.monotonic() + RULES_CHECK_INTERVAL_S
                    self.reload_if_changed()
                batch = RuleBatch.concat([rulebatch.decode(payload_bytes(m), self.catalog) for m in messages])
                await self.with_database(functools.partial(self.apply, batch=batch))
                RULE_BATCH_SECONDS.observe(time.monotonic() - received)
                self._to_ack += [(m.mid, m.qos) for m in messages]
                if len(self._to_ack) >= CHECKPOINT_AFTER_MESSAGES:
                    await self.with_database(lambda conn: self.checkpoint(conn, client))

    async def _clock(self, client: aiomqtt.Client) -> None:
        """Ticks for the clock-driven rules, and checkpoints while deliveries wait for their ack."""
        next_tick = time.monotonic() + self.settings.rule_tick_s
        next_checkpoint = time.monotonic() + self.settings.rule_checkpoint_s
        while True:
            await asyncio.sleep(min(1.0, self.settings.rule_tick_s, self.settings.rule_checkpoint_s))
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.settings.rule_tick_s
                await self.with_database(lambda conn: self.tick(conn, now_ms()))
            if time.monotonic() >= next_checkpoint:
                next_checkpoint = time.monotonic() + self.settings.rule_checkpoint_s
                await self.with_database(lambda conn: self.checkpoint(conn, client))

    async def with_database(self, work: Callable[[Conn], Awaitable[None]]) -> None:
        backoff = Backoff(cap=10.0)
        async with self._db_lock:
            while True:
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = await connect(self.settings, autocommit=True)
                    await work(self.conn)
                    return
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    log.warning("%s: database unavailable (%s); retrying", self.client_id, exc)
                    self.conn = None
                    await backoff.wait()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    async def load_fleet(self, conn: Conn) -> None:
        """Register every vehicle of our partitions with its saved state, so that silence and
        calendar rules see vehicles that have not sent anything since the restart; and recreate
        the rules of codes outside the table whose alerts are still being worked."""
        stem = other_codes.stem_of(self.rules)
        if stem is not None:
            working = await alerts.working_rule_ids(conn, prefix=f"{stem}.")
            self._add_codes({rule_id[len(stem) + 1 :] for rule_id in working})
        await self._register(conn, None)

    def _use_rules(self, rules: list[Rule]) -> None:
        """Run `rules` from now on, keeping every vehicle's state of the rules that stay."""
        self.rules, self.engine = rules, self.engine.with_rules(rules)
        self._covered = other_codes.covered(rules)

    def _add_codes(self, codes: set[str]) -> None:
        """Rules for trouble codes outside the table, made the first time they are met."""
        made = other_codes.rules_for(self.rules, {c for c in codes if dtc.is_valid(c)})
        if made:
            self._other_codes.update(r.conditions[0].code.code for r in made if r.conditions[0].code)
            self._use_rules(self.rules + made)
            log.info("%s: rules for codes outside the table: %s", self.client_id, ", ".join(r.id for r in made))

    async def _register(self, conn: Conn, vehicle_ids: list[int] | None) -> None:
        rows = await rulestate.fleet(conn, vehicle_ids)
        partitions = set(self.partitions)
        mine = [r for r in rows if partition_of(r.vin, self.settings.rule_partitions) in partitions]
        for r in mine:
            if self.engine.knows(r.id):
                continue
            self.engine.register(VehicleInfo(r.id, r.powertrain, r.make, r.model))
            if r.state is not None and r.layout is not None:
                self.engine.unpack(r.id, rulestate.decompress(r.state), r.layout, r.layout_id)
        found, newest = await fleet.service_baselines(conn, vehicle_ids=[r.id for r in mine])
        for vid, (ts, km) in found.items():
            self.engine.set_service(vid, ts, km)
        if vehicle_ids is None:
            self._services_seen = newest
        self._dirty.update(self.engine.touched)
        self.engine.touched.clear()
        await conn.commit()

    async def apply(self, conn: Conn, batch: rulebatch.RuleBatch, *, arrived_ms: int | None = None) -> None:
        """Evaluate a batch and record its alerts at once; its state is saved at the next checkpoint.

        A retry after a failed alert commit evaluates the batch again, which the kernels skip as
        seen, and records the outcomes the failure left. After a crash, the deliveries since the
        last checkpoint come again (they are acknowledged only by a checkpoint) and are replayed
        on the state it saved; alert writes are idempotent, so nothing fires twice and no
        duration in progress is lost.
        """
        await self._record_pending(conn)
        vehicles = np.unique(batch.vehicle_id).tolist()
        unknown = [v for v in vehicles if not self.engine.knows(v)]
        if unknown:
            await self._register(conn, unknown)
        self._add_codes(other_codes.reported(batch, self.catalog) - self._covered)
        self._unrecorded += self.engine.evaluate(batch, arrived_ms=now_ms() if arrived_ms is None else arrived_ms)
        # a sample moves some state of its vehicle (its last time, at least); vehicles not known
        # after registering belong to another worker's partitions
        self._dirty.update(v for v in vehicles if self.engine.knows(v))
        self.engine.touched.clear()
        await self._record_pending(conn)

    async def tick(self, conn: Conn, now: int) -> None:
        """New services recorded through the API, then what the clock decides."""
        await self._record_pending(conn)
        found, newest = await fleet.service_baselines(conn, after_id=self._services_seen)
        for vid, (ts, km) in found.items():
            self.engine.set_service(vid, ts, km)
        self._unrecorded += self.engine.tick(now)
        self._dirty.update(self.engine.touched)
        self.engine.touched.clear()
        await self._record_pending(conn)
        self._services_seen = newest

    async def _record_pending(self, conn: Conn) -> None:
        if not self._unrecorded:
            return
        async with conn.transaction():
            reopen_within = timedelta(seconds=self.settings.alert_reopen_within_s)
            for outcome in self._unrecorded:
                await record(conn, outcome, reopen_within=reopen_within)
        self._unrecorded = []

    async def checkpoint(self, conn: Conn, client: aiomqtt.Client | None = None) -> None:
        """Save the state of every vehicle that changed since the last checkpoint, then acknowledge
        the deliveries it covers: until then the broker keeps them for a replay."""
        await self._record_pending(conn)
        dirty = sorted(v for v in self._dirty if self.engine.knows(v))
        async with conn.transaction():
            if self._layout_saved != self.engine.layout_id:
                await rulestate.ensure_layout(conn, self.engine.layout_id, self.engine.layout)
            packed = self.engine.pack(dirty)
            await rulestate.save(conn, self.engine.layout_id, dirty, [row.tobytes() for row in packed])
        self._layout_saved = self.engine.layout_id
        self._dirty.difference_update(dirty)
        if client is not None:
            for mid, qos in self._to_ack:
                ack_delivery(client, mid, qos)
        self._to_ack = []


EVIDENCE_POINTS = 120


async def record(conn: Conn, outcome: Outcome, *, reopen_within: timedelta) -> None:
    rule = outcome.rule
    if rule.offer is not None:
        await record_offer(conn, outcome, rule.offer)
    elif outcome.fired:
        alert_id = await alerts.fire(
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
                rule_kind=rule.kind,
                system=rule.system,
                component=rule.component,
            ),
            reopen_within=reopen_within,
        )
        await incidents.attach(conn, alert_id=alert_id, reopen_within=reopen_within)
        log.info("alert %s (%s) on vehicle %d", rule.id, outcome.severity, outcome.vehicle_id)
    else:
        at = to_datetime(outcome.ts)
        cleared = await alerts.clear(conn, alerts.Clearing(outcome.vehicle_id, rule.id, at))
        if cleared is not None:
            await incidents.alert_closed(conn, alert_id=cleared, at=at)
    ALERT_EVENTS.labels(rule.id, "fired" if outcome.fired else "cleared").inc()


async def record_offer(conn: Conn, outcome: Outcome, feature_code: str) -> None:
    """A rule about usage: its firing is a lead for a software option, not an alert."""
    at = to_datetime(outcome.ts)
    if outcome.fired:
        first = to_datetime(outcome.since if outcome.since >= 0 else outcome.ts)
        await offers.fire(conn, vehicle_id=outcome.vehicle_id, feature_code=feature_code, rule_id=outcome.rule.id,
                          reason=outcome.explanation(), first_seen=first, last_seen=at)  # fmt: skip
        log.info("offer %s for vehicle %d (%s)", feature_code, outcome.vehicle_id, outcome.rule.id)
    else:
        await offers.withdraw(conn, vehicle_id=outcome.vehicle_id, feature_code=feature_code, at=at)


async def evidence(conn: Conn, outcome: Outcome) -> dict[str, object]:
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
