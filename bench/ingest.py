"""Ingest benchmark: a simulated fleet over MQTT into PostgreSQL, on this machine.

    python -m bench.ingest [--rate 3000] [--duration 60] [--vehicles 5000] [--ingest-workers 2]
                           [--samples-per-message 50] [--format json|arrow] [--sample-rate S] [--sweep]
                           [--background-load] [--find-sustainable [--runs 3]]

Starts `telemetry serve` (API, ingest and rule workers) on a schema of its own, measures the load
generator's own ceiling, drives the fleet at `--rate` messages/s (or `--sample-rate` samples/s),
each message `--samples-per-message` samples (moments of 25 signals; 50 by default) as JSON or as
an Arrow batch, and measures:
- committed messages/s and samples/s (everything published is stored: checked at the end);
- publish-to-commit latency p50/p99: ingest publishes each committed batch to the rule
  partitions, the benchmark listens there and compares with each message's publish time;
- the rule engine's part of publish-to-alert: from a rule worker receiving a committed batch to
  its alerts and state committed (the worker's histogram, read from /metrics);
- peak RSS of each ingest process, and its growth between the first and the last third of the run;
- whether it kept up: a run whose last commit comes more than 2 s after the load stopped (a backlog
  had built up) or that did not store everything says FELL BEHIND (`fell_behind`, `drain_s`);
- CPU seconds the ingest processes spent per million samples stored;
- with `--background-load`, all of it beside an unrelated CPU-bound process at nice 10;
- in the same run, a raw binary COPY of the same rows and a naive one-INSERT-per-sample loop.
Each run prints one JSON object as its last line. `--sweep` runs the batch sizes 50, 250 and 1,500
as JSON and 250 and 1,500 as Arrow at `--sample-rate` (default 150,000 samples/s), one JSON line
per point, the server restarted for each.

`--find-sustainable` searches the highest message rate the server sustains: a rate passes when
each of `--runs` runs of `--duration` seconds commits what was offered (97 % of the target rate at
least), stores everything exactly once, does not fall behind and keeps p99 publish-to-commit at or
under 1 s. From `--rate` it steps up by 25 % while rates pass
(down by 20 % while they fail), then halves the gap between the last passing and the first failing
rate twice. One JSON line per run, then one with `sustainable_msg_per_s` (and samples/s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import psutil
import psycopg
from psycopg import sql

from bench import smoke
from bench.ingest_measure import (
    Observer,
    baselines,
    cpu_seconds,
    histogram_quantiles,
    rss_sampler,
    stored_rows,
)
from bench.loadgen import SAMPLE_SPACING_MS, LoadPlan, run_load
from rules.definitions import load_rules
from server.localservices import free_port
from server.supervisor import child_env
from simulators.models import MODELS, make_vin
from telemetry.catalog import default_catalog
from telemetry.mqtt import make_client
from telemetry.settings import Settings
from telemetry.storage.db import connect_sync
from telemetry.storage.migrate import upgrade
from telemetry.topics import ingest_client_id, rules_client_id

SIGNALS_PER_SAMPLE = 25
SWEEP = (("json", 50), ("json", 250), ("json", 1500), ("arrow", 250), ("arrow", 1500))
SWEEP_SAMPLES_PER_S = 150_000.0
KEPT_UP_DRAIN_S = 2.0  # a server that keeps up commits the last message within a batch wait or two


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
    typical = {"kPa": 240.0, "percent": 30.0, "Celsius": 24.0}
    return {
        s.path: NORMAL.get(s.path)
        or typical.get(s.unit or "")
        or round(((s.min or 0) + (s.max or 100)) / 2 % 97 + 1.5, 1)
        for s in chosen
    }


def register_fleet(settings: Settings, count: int) -> list[str]:
    rng = random.Random(42)
    vins = sorted({make_vin(rng, MODELS[i % len(MODELS)].wmi) for i in range(count)})
    with connect_sync(settings) as conn:
        conn.execute(
            "INSERT INTO vehicles (vin, make, model, model_year, powertrain)"
            " SELECT v, 'Bench', 'Load', 2024, 'combustion' FROM unnest(%s::text[]) AS v ON CONFLICT DO NOTHING",
            (vins,),
        )
    return vins


async def forget_sessions(settings: Settings, ingest_workers: int, rule_workers: int) -> None:
    """Start from empty broker sessions: a previous run's queued messages must not count here."""
    url, stem = settings.require_mqtt_url(), settings.mqtt_client_id
    for client_id in [ingest_client_id(stem, i) for i in range(ingest_workers)] + [
        rules_client_id(stem, i) for i in range(rule_workers)
    ]:
        async with make_client(url, client_id, persistent=False):
            pass


@contextlib.contextmanager
def background_load(on: bool) -> Iterator[None]:
    """An unrelated CPU-bound process at nice 10 for the length of the load, as on a shared box."""
    if not on:
        yield
        return
    busy = subprocess.Popen([sys.executable, "-c", "import os\nos.nice(10)\nwhile True: pass"], start_new_session=True)
    try:
        yield
    finally:
        busy.terminate()
        busy.wait(10)


def run_point(args: argparse.Namespace, fmt: str, samples_per_message: int, rate: float) -> dict[str, object]:
    """One load level and batch shape against a freshly started server; returns the JSON line's fields."""
    if samples_per_message % SIGNALS_PER_SAMPLE:
        raise SystemExit(f"--samples-per-message is a multiple of {SIGNALS_PER_SAMPLE} (signals per moment)")
    moments = samples_per_message // SIGNALS_PER_SAMPLE
    name = smoke.schema("bench_ingest")
    settings = Settings(database_schema=name, mqtt_topic_prefix=f"{name}/", mqtt_client_id=name, api_port=free_port())
    with psycopg.connect(settings.require_database_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
    asyncio.run(upgrade(settings))
    asyncio.run(forget_sessions(settings, args.ingest_workers, args.rule_workers))
    vins = register_fleet(settings, args.vehicles)
    signals = bench_signals()
    # a vehicle's consecutive messages must not overlap in time: moments closer when messages are long
    every_ms = len(vins) / rate * 1000
    spacing = max(1, min(SAMPLE_SPACING_MS, int(every_ms / moments / 2)))

    prefix = settings.mqtt_topic_prefix

    def plan(rate: float, seconds: float) -> LoadPlan:
        return LoadPlan(settings.require_mqtt_url(), prefix, vins, rate, seconds, signals, moments, fmt, spacing)

    sent, secs = run_load(plan(1e6, 1.0 if args.smoke else 3.0), args.load_processes, f"{prefix}ceiling/nobody")
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

        cpu_before = cpu_seconds(ingest_pids)
        with background_load(args.background_load):
            sent, _ = run_load(plan(rate, args.duration), args.load_processes)
        load_ended = time.monotonic()
        expected_rows = sent * moments
        while stored_rows(settings) < expected_rows and time.monotonic() - observer.last_seen < 15:
            time.sleep(0.5)
        finished = observer.last_seen
        drain_s = max(finished - load_ended, 0.0)  # what was still queued when the load stopped
        time.sleep(2)  # the rule worker finishes the last batches
        metrics = httpx.get(f"{api}/metrics", timeout=10).text
        stop_rss.set()
        observer.stop.set()
        stored = stored_rows(settings)
        cpu_used = cpu_seconds(ingest_pids) - cpu_before
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)

    # committed throughput between the first and the last commit seen: start-up and drain excluded
    elapsed = max(finished - observer.first_seen, 1e-9)
    latencies = np.concatenate(observer.latencies_ms) if observer.latencies_ms else np.array([np.nan])
    msg_rate = (stored / moments) / elapsed
    sample_rate = stored * len(signals) / elapsed
    peak_rss = max((max(v) for v in rss.values()), default=float("nan"))
    growth = []
    for series in rss.values():
        third = max(len(series) // 3, 1)
        growth.append(statistics.median(series[-third:]) - statistics.median(series[:third]))
    copy_rate, naive_rate = baselines(settings, vins, sent, signals)
    rule_count = len(load_rules(default_catalog(), settings.rules_dir))
    rule_p50, rule_p99, rule_batches = histogram_quantiles(metrics, "telemetry_rules_batch_seconds", (0.5, 0.99))
    samples_stored = stored * len(signals)
    behind = stored < expected_rows or drain_s > KEPT_UP_DRAIN_S

    print(
        f"published {sent:,} {fmt} messages of {samples_per_message} samples ({sent * samples_per_message:,} samples)"
        f" at a target of {rate:,.0f} msg/s for {args.duration:.0f} s; {args.ingest_workers} ingest worker(s),"
        f" {args.rule_workers} rule worker(s)"
    )
    verdict = "exactly once" if stored == expected_rows else "MISMATCH"
    print(f"stored rows {stored:,} of {expected_rows:,} expected: {verdict}")
    if behind:
        print(f"FELL BEHIND: a backlog built up; it took {drain_s:,.1f} s to drain after the load stopped")
    else:
        print(f"kept up: the last commit came {drain_s:,.1f} s after the load stopped")
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
    print(f"ingest CPU: {cpu_used:,.1f} s, {cpu_used / max(samples_stored / 1e6, 1e-9):,.2f} s per million samples")
    print(f"raw binary COPY of the same rows: {copy_rate:,.0f} samples/s")
    print(f"naive INSERT per sample: {naive_rate:,.0f} samples/s")
    return {
        "format": fmt,
        "samples_per_message": samples_per_message,
        "messages_per_s": round(msg_rate, 1),
        "samples_per_s": round(sample_rate),
        "p50_ms": round(float(np.nanpercentile(latencies, 50)), 1),
        "p99_ms": round(float(np.nanpercentile(latencies, 99)), 1),
        "rules_p50_ms": round(rule_p50 * 1000, 1),
        "rules_p99_ms": round(rule_p99 * 1000, 1),
        "peak_rss_mb": round(peak_rss, 1),
        "rss_growth_mb": round(max(growth, default=0.0), 1),
        "ingest_cpu_s_per_million_samples": round(cpu_used / max(samples_stored / 1e6, 1e-9), 3),
        "copy_ratio": round(sample_rate / copy_rate, 4),
        "naive_ratio": round(sample_rate / naive_rate, 1),
        "generator_ceiling_msg_per_s": round(ceiling),
        "target_rate": rate,
        "duration_s": args.duration,
        "ingest_workers": args.ingest_workers,
        "published": sent,
        "stored_rows": stored,
        "expected_rows": expected_rows,
        "fell_behind": behind,
        "drain_s": round(drain_s, 1),
        "background_load": args.background_load,
        "smoke": args.smoke,
    }


SUSTAINED_P99_MS = 1000.0
OFFERED_SHARE = 0.97


def passes(point: dict[str, object]) -> bool:
    """Committed as offered (at least 97 % of the target rate: above the load generator's own
    ceiling a rate is not offered at all), everything stored once, no backlog left to drain, p99
    publish-to-commit within 1 s."""
    return (
        float(point["messages_per_s"]) >= OFFERED_SHARE * float(point["target_rate"])  # type: ignore[arg-type]
        and point["stored_rows"] == point["expected_rows"]
        and not point["fell_behind"]
        and float(point["p99_ms"]) <= SUSTAINED_P99_MS  # type: ignore[arg-type]
    )


def find_sustainable(args: argparse.Namespace) -> dict[str, object]:
    """The highest rate at which every one of `args.runs` runs passes (see the module's docstring)."""
    tried: dict[float, bool] = {}

    def holds(rate: float) -> bool:
        if rate not in tried:
            tried[rate] = True
            for _ in range(args.runs):
                point = run_point(args, args.format, args.samples_per_message, rate)
                print(json.dumps({**point, "passed": passes(point)}), flush=True)
                if not passes(point):
                    tried[rate] = False
                    break
        return tried[rate]

    rate, steps = round(args.rate), 1 if args.smoke else 6
    good, bad = (rate, None) if holds(rate) else (None, rate)
    for _ in range(steps):  # find a passing and a failing rate
        if good is not None and bad is None:
            rate = round(good * 1.25)
            good, bad = (rate, None) if holds(rate) else (good, rate)
        elif good is None and bad is not None:
            rate = max(1, round(bad * 0.8))
            good, bad = (rate, bad) if holds(rate) else (None, rate)
    for _ in range(0 if args.smoke else 2):  # then narrow the gap
        if good is None or bad is None:
            break
        rate = round((good + bad) / 2)
        good, bad = (rate, bad) if holds(rate) else (good, rate)
    samples = None if good is None else good * args.samples_per_message
    return {
        "bench": "ingest_sustainable", "format": args.format, "samples_per_message": args.samples_per_message,
        "sustainable_msg_per_s": good, "sustainable_samples_per_s": samples,
        "first_failing_msg_per_s": bad, "runs_per_rate": args.runs, "duration_s": args.duration,
        "background_load": args.background_load, "tried": {str(r): ok for r, ok in sorted(tried.items())},
        "smoke": args.smoke,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=3000, help="messages/s")
    parser.add_argument("--sample-rate", type=float, default=None, help="samples/s; sets the message rate")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load")
    parser.add_argument("--vehicles", type=int, default=5000)
    parser.add_argument("--ingest-workers", type=int, default=2)
    parser.add_argument("--rule-workers", type=int, default=1)
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--samples-per-message", type=int, default=50, help="a multiple of 25")
    parser.add_argument("--format", choices=("json", "arrow"), default="json")
    parser.add_argument("--sweep", action="store_true", help="every batch shape of SWEEP, one JSON line each")
    parser.add_argument(
        "--background-load", action="store_true", help="a CPU-bound process at nice 10 runs beside the load"
    )
    parser.add_argument("--find-sustainable", action="store_true", help="search the highest rate that holds")
    parser.add_argument("--runs", type=int, default=3, help="with --find-sustainable: runs per rate")
    args = smoke.parse(
        parser, rate=100.0, duration=3.0, vehicles=20, ingest_workers=1, rule_workers=1, load_processes=1, runs=1
    )
    if args.find_sustainable:
        print(json.dumps(find_sustainable(args)), flush=True)
        return
    points = SWEEP if args.sweep else ((args.format, args.samples_per_message),)
    for fmt, size in points:
        if args.sample_rate:
            rate = args.sample_rate / size
        elif args.sweep and not args.smoke:
            rate = SWEEP_SAMPLES_PER_S / size
        else:
            rate = args.rate
        print(json.dumps(run_point(args, fmt, size, rate)), flush=True)


if __name__ == "__main__":
    main()
