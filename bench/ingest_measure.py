"""What the ingest benchmark measures, apart from driving the load: commit latency seen on the
rule partitions, memory and CPU of the ingest processes, stored rows, the raw-COPY and naive
baselines, and histogram quantiles from /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import psutil
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from telemetry import rulebatch
from telemetry.catalog import default_catalog
from telemetry.mqtt import make_client
from telemetry.settings import Settings
from telemetry.storage.db import connect_sync
from telemetry.storage.samples import SampleWriter
from telemetry.timeutil import now_ms
from telemetry.topics import rules_topic


@dataclass
class Observer:
    """Listens to the rule partitions: each committed batch arrives there right after its commit."""

    settings: Settings
    latencies_ms: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        catalog = default_catalog()
        topic = rules_topic(self.settings.mqtt_topic_prefix, 0).rsplit("/", 1)[0] + "/+"
        async with make_client(self.settings.require_mqtt_url(), "bench-observer", persistent=False) as client:
            await client.subscribe(topic, qos=0)
            self.ready.set()
            messages = aiter(client.messages)
            while not self.stop.is_set():
                try:
                    message = await asyncio.wait_for(anext(messages), 0.5)
                except TimeoutError:
                    continue
                received = now_ms()
                batch = rulebatch.decode(bytes(message.payload), catalog)  # type: ignore[arg-type]
                if not len(batch):
                    continue
                order = np.lexsort((batch.ts, batch.vehicle_id))
                vid = batch.vehicle_id[order]
                last_of_vehicle = np.append(vid[1:] != vid[:-1], True)
                self.latencies_ms.append(received - batch.ts[order][last_of_vehicle])
                self.rows += len(batch)
                self.last_seen = time.monotonic()
                self.first_seen = self.first_seen or self.last_seen


def rss_sampler(pids: list[int], stop: threading.Event, out: dict[int, list[float]]) -> None:
    while not stop.is_set():
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                out.setdefault(pid, []).append(psutil.Process(pid).memory_info().rss / 2**20)
        stop.wait(1.0)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes have used so far."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def stored_rows(settings: Settings) -> int:
    with connect_sync(settings) as conn:
        return int(conn.execute("SELECT count(*) AS n FROM samples").fetchone()["n"])


def baselines(settings: Settings, vins: list[str], messages: int, signals: dict[str, float]) -> tuple[float, float]:
    """(raw binary COPY samples/s of the same rows, naive INSERT-per-sample samples/s)."""
    catalog = default_catalog()
    writer = SampleWriter(catalog)
    ids = [catalog[p].id for p in signals]
    per_msg = 2 * len(ids)
    n = min(messages, 40_000)
    vid = np.repeat(np.arange(n) % len(vins) + 1, per_msg).astype(np.int32)
    base = now_ms() - 3_600_000
    ts = np.repeat(base + np.arange(n * 2) * 7, len(ids)).astype(np.int64)
    sig = np.tile(np.array(ids, np.int16), n * 2)
    val = np.tile(np.array(list(signals.values())), n * 2)
    rows = writer.pivot(vid, ts, sig, val)
    payload = writer.encode_copy(rows)
    cols = sql.SQL(", ").join(sql.SQL("{} float8").format(sql.Identifier(s.column)) for s in writer.numeric)
    with connect_sync(settings) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE bench_copy (vehicle_id int, ts_ms bigint, {}, PRIMARY KEY (vehicle_id, ts_ms))"
            ).format(cols)
        )
        conn.commit()
        began = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(payload)
        conn.commit()
        copy_rate = len(val) / (time.perf_counter() - began)

        col = [catalog.signals[i].column for i in ids]
        began, done = time.perf_counter(), 0
        with conn.cursor() as cur:
            while time.perf_counter() - began < 5.0:
                for j, c in enumerate(col):
                    cur.execute(
                        sql.SQL(
                            "INSERT INTO samples (vehicle_id, ts, {c}) VALUES (%s, to_timestamp(%s / 1000.0), %s)"
                            " ON CONFLICT (vehicle_id, ts) DO UPDATE SET {c} = EXCLUDED.{c}"
                        ).format(c=sql.Identifier(c)),
                        (int(vid[done // len(col)]), int(base - 10_000_000 + done // len(col)), float(val[j])),
                    )
                    conn.commit()
                    done += 1
        naive_rate = done / (time.perf_counter() - began)
    return copy_rate, naive_rate


def histogram_quantiles(text: str, name: str, qs: tuple[float, ...]) -> tuple[float, ...]:
    """Quantiles of a Prometheus histogram from its exposition text, interpolated within buckets
    as PromQL's histogram_quantile does; the last value is the observation count."""
    buckets = sorted(
        (float(sample.labels["le"]), sample.value)
        for family in text_string_to_metric_families(text)
        if family.name == name
        for sample in family.samples
        if sample.name == f"{name}_bucket"
    )
    total = buckets[-1][1] if buckets else 0.0
    out = []
    for q in qs:
        rank, lower, below = q * total, 0.0, 0.0
        for upper, count in buckets:
            if count >= rank and total:
                width = count - below
                bound = upper if math.isfinite(upper) else lower
                out.append(lower + (bound - lower) * ((rank - below) / width if width else 1.0))
                break
            lower, below = upper, count
        else:
            out.append(float("nan"))
    return (*out, total)
