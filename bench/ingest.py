"""Ingest benchmark: a simulated fleet over MQTT into PostgreSQL, on this machine.

    python -m bench.ingest [--rate 3000] [--duration 60] [--vehicles 5000] [--ingest-workers 2]

Starts `telemetry serve` (API, ingest and rule workers) on a schema of its own, measures the load
generator's own ceiling, drives the fleet at `--rate` messages/s (50 samples each: 2 moments x 25
signals), and measures:
- committed messages/s and samples/s (everything published is stored: checked at the end);
- publish-to-commit latency p50/p99: ingest publishes each committed batch to the rule
  partitions, the benchmark listens there and compares with each message's publish time;
- the rule engine's part of publish-to-alert: from a rule worker receiving a committed batch to
  its alerts and state committed (the worker's histogram, read from /metrics);
- peak RSS of each ingest process, and its growth between the first and the last third of the run;
- in the same run, a raw binary COPY of the same rows and a naive one-INSERT-per-sample loop.
The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
import psutil
import psycopg
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from bench import smoke
from bench.loadgen import LoadPlan, run_load
from rules.definitions import load_rules
from server.localservices import free_port
from server.supervisor import child_env
from simulators.models import MODELS, make_vin
from telemetry import rulebatch
from telemetry.catalog import default_catalog
from telemetry.mqtt import make_client
from telemetry.settings import Settings
from telemetry.storage.db import connect_sync
from telemetry.storage.migrate import upgrade
from telemetry.storage.samples import SampleWriter
from telemetry.timeutil import now_ms
from telemetry.topics import ingest_client_id, rules_client_id, rules_topic

SIGNALS_PER_SAMPLE = 25


NORMAL = {  # a healthy vehicle's values, so that the rule library fires no more than in a real fleet
    "Vehicle.Speed": 62.0,
    "Vehicle.Powertrain.CombustionEngine.Speed": 2100.0,
    "Vehicle.Powertrain.CombustionEngine.EngineLoad": 38.0,
    "Vehicle.Powertrain.CombustionEngine.EngineCoolant.Temperature": 91.5,
    "Vehicle.Powertrain.CombustionEngine.EngineOil.Temperature": 97.0,
    "Vehicle.Powertrain.CombustionEngine.EOP": 320.0,
    "Vehicle.Powertrain.TractionBattery.StateOfHealth": 96.0,
    "Vehicle.Powertrain.TractionBattery.Temperature.Average": 29.0,
    "Vehicle.LowVoltageBattery.CurrentVoltage": 14.1,
}


def bench_signals() -> dict[str, float]:
    catalog = default_catalog()
    chosen = [s for s in catalog.numeric if s.kind == "number"][:SIGNALS_PER_SAMPLE]
    typical = {"kPa": 240.0, "percent": 30.0, "celsius": 24.0}
    return {
        s.path: NORMAL.get(s.path)
        or typical.get(s.unit or "")
        or round(((s.min or 0) + (s.max or 100)) / 2 % 97 + 1.5, 1)
        for s in chosen
    }


def register_fleet(settings: Settings, count: int) -> list[str]:
    import random

    rng = random.Random(42)
    vins = sorted({make_vin(rng, MODELS[i % len(MODELS)].wmi) for i in range(count)})
    with connect_sync(settings) as conn:
        conn.execute(
            "INSERT INTO vehicles (vin, make, model, model_year, powertrain)"
            " SELECT v, 'Bench', 'Load', 2024, 'combustion' FROM unnest(%s::text[]) AS v ON CONFLICT DO NOTHING",
            (vins,),
        )
    return vins


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


async def forget_sessions(settings: Settings, ingest_workers: int, rule_workers: int) -> None:
    """Start from empty broker sessions: a previous run's queued messages must not count here."""
    url, stem = settings.require_mqtt_url(), settings.mqtt_client_id
    for client_id in [ingest_client_id(stem, i) for i in range(ingest_workers)] + [
        rules_client_id(stem, i) for i in range(rule_workers)
    ]:
        async with make_client(url, client_id, persistent=False):
            pass


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=3000, help="messages/s")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--vehicles", type=int, default=5000)
    parser.add_argument("--ingest-workers", type=int, default=2)
    parser.add_argument("--rule-workers", type=int, default=1)
    parser.add_argument("--load-processes", type=int, default=2)
    args = smoke.parse(
        parser, rate=100.0, duration=3.0, vehicles=20, ingest_workers=1, rule_workers=1, load_processes=1
    )

    name = smoke.schema("bench_ingest")
    settings = Settings(database_schema=name, mqtt_topic_prefix=f"{name}/", mqtt_client_id=name, api_port=free_port())
    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    asyncio.run(upgrade(settings))
    asyncio.run(forget_sessions(settings, args.ingest_workers, args.rule_workers))
    vins = register_fleet(settings, args.vehicles)
    signals = bench_signals()
    samples_per_message = 2 * len(signals)

    prefix = settings.mqtt_topic_prefix
    ceiling_plan = LoadPlan(settings.require_mqtt_url(), prefix, vins, 1e6, 1.0 if args.smoke else 3.0, signals)
    sent, secs = run_load(ceiling_plan, args.load_processes, topic_override=f"{prefix}ceiling/nobody")
    ceiling = sent / secs
    print(f"load generator ceiling ({args.load_processes} processes, QoS 1, no subscriber): {ceiling:,.0f} msg/s")

    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--ingest-workers",
            str(args.ingest_workers),
            "--rule-workers",
            str(args.rule_workers),
        ],
        env=child_env(settings),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        api = f"http://127.0.0.1:{settings.api_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).json().get("status") == "ok":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not become healthy")
            time.sleep(0.3)
        time.sleep(2)  # workers connect
        ingest_pids = [
            p.pid for p in psutil.Process(server.pid).children(recursive=True) if "ingest" in " ".join(p.cmdline())
        ]
        observer = Observer(settings)
        threading.Thread(target=observer.run, daemon=True).start()
        observer.ready.wait(10)
        rss: dict[int, list[float]] = {}
        stop_rss = threading.Event()
        threading.Thread(target=rss_sampler, args=(ingest_pids, stop_rss, rss), daemon=True).start()

        plan = LoadPlan(settings.require_mqtt_url(), prefix, vins, args.rate, args.duration, signals)
        sent, _ = run_load(plan, args.load_processes)
        expected_rows = sent * 2
        while stored_rows(settings) < expected_rows and time.monotonic() - observer.last_seen < 15:
            time.sleep(0.5)
        finished = observer.last_seen
        time.sleep(2)  # the rule worker finishes the last batches
        metrics = httpx.get(f"{api}/metrics", timeout=10).text
        stop_rss.set()
        observer.stop.set()
        stored = stored_rows(settings)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)

    # committed throughput between the first and the last commit seen: start-up and drain excluded
    elapsed = max(finished - observer.first_seen, 1e-9)
    latencies = np.concatenate(observer.latencies_ms) if observer.latencies_ms else np.array([np.nan])
    msg_rate = (stored / 2) / elapsed
    sample_rate = stored * len(signals) / elapsed
    peak_rss = max((max(v) for v in rss.values()), default=float("nan"))
    growth = []
    for series in rss.values():
        third = max(len(series) // 3, 1)
        growth.append(statistics.median(series[-third:]) - statistics.median(series[:third]))
    copy_rate, naive_rate = baselines(settings, vins, sent, signals)
    rule_count = len(load_rules(default_catalog(), settings.rules_dir))
    rule_p50, rule_p99, rule_batches = histogram_quantiles(metrics, "telemetry_rules_batch_seconds", (0.5, 0.99))

    print(
        f"published {sent:,} messages ({sent * samples_per_message:,} samples) at a target of {args.rate:,.0f} msg/s "
        f"for {args.duration:.0f} s; {args.ingest_workers} ingest worker(s), {args.rule_workers} rule worker(s)"
    )
    verdict = "exactly once" if stored == expected_rows else "MISMATCH"
    print(f"stored rows {stored:,} of {expected_rows:,} expected: {verdict}")
    print(f"committed: {msg_rate:,.0f} messages/s, {sample_rate:,.0f} samples/s")
    print(
        f"publish-to-commit latency: p50 {np.nanpercentile(latencies, 50):,.0f} ms, "
        f"p99 {np.nanpercentile(latencies, 99):,.0f} ms"
    )
    print(
        f"rule engine, committed batch received -> alerts and state committed ({rule_batches:,.0f} batches,"
        f" {rule_count} rules): p50 {rule_p50 * 1000:,.1f} ms, p99 {rule_p99 * 1000:,.1f} ms"
    )
    print(f"ingest RSS: peak {peak_rss:,.0f} MiB, growth first->last third {max(growth, default=0):+.1f} MiB")
    print(f"raw binary COPY of the same rows: {copy_rate:,.0f} samples/s")
    print(f"naive INSERT per sample: {naive_rate:,.0f} samples/s")
    print(
        json.dumps(
            {
                "messages_per_s": round(msg_rate, 1),
                "samples_per_s": round(sample_rate),
                "p50_ms": round(float(np.nanpercentile(latencies, 50)), 1),
                "p99_ms": round(float(np.nanpercentile(latencies, 99)), 1),
                "rules_p50_ms": round(rule_p50 * 1000, 1),
                "rules_p99_ms": round(rule_p99 * 1000, 1),
                "peak_rss_mb": round(peak_rss, 1),
                "rss_growth_mb": round(max(growth, default=0.0), 1),
                "copy_ratio": round(sample_rate / copy_rate, 4),
                "naive_ratio": round(sample_rate / naive_rate, 1),
                "generator_ceiling_msg_per_s": round(ceiling),
                "target_rate": args.rate,
                "duration_s": args.duration,
                "ingest_workers": args.ingest_workers,
                "published": sent,
                "stored_rows": stored,
                "expected_rows": expected_rows,
                "smoke": args.smoke,
            }
        )
    )


if __name__ == "__main__":
    main()
