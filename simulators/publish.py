"""Publishing a simulated fleet over MQTT from several processes, paced by the simulated clock.

Each process simulates its share of the vehicles (every vehicle has its own random generator,
so the split changes nothing), encodes a span ahead of time and publishes each message when the
wall clock reaches its simulated time divided by `speed`. The same processes listen on their
vehicles' command topics and acknowledge commands. Each process measures how long it was busy,
which gives the publisher's own ceiling: messages / busy seconds.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
import numpy as np

from simulators.bulk_publisher import BulkPublisher
from simulators.commands import CommandResponder
from simulators.encode import PayloadEncoder
from simulators.faults import Label
from simulators.fleet import DAY_S, Fleet, ServiceVisit
from simulators.record import ParquetRecorder
from simulators.register import auth_headers, service_body
from simulators.scenario import Scenario
from telemetry.errors import ConfigError

log = logging.getLogger(__name__)
SPAN_WALL_S = 0.5  # encode this much wall time ahead
OPEN_ENDED_FAULT_WINDOW_S = 600.0  # a run until Ctrl-C starts its faults within ten minutes


@dataclass(frozen=True)
class PublishPlan:
    scenario: Scenario
    mqtt_url: str
    prefix: str = ""
    speed: float = 1.0  # simulated seconds per wall second
    start_s: float = 0.0  # the fleet's clock when publishing starts (seconds since the scenario's first midnight)
    duration_s: float | None = None  # wall seconds; None: until stopped
    processes: int = 2
    command_secret: bytes | None = None
    record: Path | None = None  # also write what is published to Parquet files here (one per process and day)
    fault_window: tuple[float, float] | None = None  # see Fleet
    api_url: str | None = None  # workshop visits are recorded here as services
    api_key: str | None = None


@dataclass(frozen=True)
class PublishResult:
    sent: int
    seconds: float
    busy_seconds: float  # summed over processes: encoding and publishing, not waiting
    processes: int
    labels: list[Label]  # the injected faults, failures as observed so far

    @property
    def ceiling_msg_per_s(self) -> float:
        """What the processes could send together if they never waited for the clock."""
        return self.sent * self.processes / self.busy_seconds if self.busy_seconds else float("inf")


def _share(
    plan: PublishPlan,
    share: int,
    sent: Synchronized[int],
    busy: Synchronized[float],
    stop: Event,
    labels: Queue[list[Label]],
) -> None:
    members = np.arange(share, plan.scenario.vehicles, plan.processes)
    fleet = Fleet(plan.scenario, members=members, fault_window=plan.fault_window)
    fleet.jump_to(plan.start_s)
    encoder = PayloadEncoder(fleet, plan.prefix)
    responder = CommandResponder(plan.prefix, fleet.vins, plan.command_secret)
    out = BulkPublisher(
        plan.mqtt_url,
        f"sim-{share}-{time.time_ns() % 10**9}",
        on_message=responder.handle,
        subscriptions=responder.topics(),
    )
    recorder = ParquetRecorder(plan.record, fleet, suffix=f"-p{share}") if plan.record else None
    wall0 = time.monotonic()
    span_s = max(plan.speed * SPAN_WALL_S, 1.0)
    until = np.inf if plan.duration_s is None else plan.start_s + plan.duration_s * plan.speed
    base_ms = plan.scenario.start_ms + int(plan.start_s * 1000)
    try:
        for span in fleet.spans(span_s=span_s, until_s=until):
            if span.services and plan.api_url:
                _record_services(plan.api_url, plan.api_key, fleet, span.services)
            began = time.monotonic()
            messages = encoder.encode(span)
            if recorder is not None:
                recorder.write(span)
            busy_s = time.monotonic() - began
            pending = 0  # published, not yet counted in the shared totals
            for msg in messages:
                wait = wall0 + (msg.ts_ms - base_ms) / 1000 / plan.speed - time.monotonic()
                if wait > 0:
                    _count(sent, busy, pending, busy_s)
                    pending, busy_s = 0, 0.0
                    time.sleep(wait)
                began = time.monotonic()
                out.publish(msg.topic, msg.payload)
                busy_s += time.monotonic() - began
                pending += 1
                if stop.is_set():
                    _count(sent, busy, pending, busy_s)
                    return
            _count(sent, busy, pending, busy_s)
            if stop.is_set():
                return
        last = encoder.flush_all()
        for msg in last:
            out.publish(msg.topic, msg.payload)
        _count(sent, busy, len(last), 0.0)
    finally:
        if recorder is not None:
            recorder.close()
        out.drain()
        out.close()
        labels.put(fleet.labels())


def _record_services(api_url: str, api_key: str | None, fleet: Fleet, visits: list[ServiceVisit]) -> None:
    """Workshop visits go into the vehicles' service history, as a dealer system would send them."""
    with httpx.Client(base_url=api_url, timeout=10, headers=auth_headers(api_key)) as http:
        for v in visits:
            try:
                body = service_body(v.ts_ms, v.odometer_km)
                http.post(f"/vehicles/{fleet.vins[v.vehicle]}/services", json=body).raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("service visit of %s not recorded: %s", fleet.vins[v.vehicle], exc)


def _count(sent: Synchronized[int], busy: Synchronized[float], messages: int, busy_s: float) -> None:
    with sent.get_lock():
        sent.value += messages
    with busy.get_lock():
        busy.value += busy_s


def publish(plan: PublishPlan, on_progress: Callable[[int, float], None] | None = None) -> PublishResult:
    """Runs the processes until the duration is over (or Ctrl-C); `on_progress(sent, seconds)`
    is called a few times a second."""
    ctx = mp.get_context("spawn")
    sent, busy, stop, labels = ctx.Value("q", 0), ctx.Value("d", 0.0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_share, args=(plan, i, sent, busy, stop, labels)) for i in range(plan.processes)]
    started = time.monotonic()
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(0.25)
            if on_progress is not None:
                on_progress(sent.value, time.monotonic() - started)
    except KeyboardInterrupt:
        stop.set()
    found: list[Label] = []
    for _ in procs:
        try:
            found += labels.get(timeout=60)
        except queue.Empty:
            break
    for p in procs:
        p.join(timeout=60)
    failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if failed:
        raise RuntimeError(f"{len(failed)} publishing process(es) failed (exit codes {failed})")
    return PublishResult(sent.value, time.monotonic() - started, busy.value, plan.processes, found)


def live_plan(
    scenario: Scenario,
    mqtt_url: str,
    *,
    speed: float = 1.0,
    duration_s: float | None = None,
    now_s: float | None = None,
    faults_start_within_s: float | None = None,
    **options: object,
) -> PublishPlan:
    """The scenario's fleet on the wall clock. The simulated clock must stay behind the wall clock
    (the server refuses future timestamps): in real time it starts now; accelerated, it starts
    `duration_s * speed` in the past. Faults start and run their course within the run (within
    the first ten minutes of a run without end), or start within `faults_start_within_s`.
    `options`: the other PublishPlan fields."""
    if speed > 1 and not duration_s:
        raise ConfigError("faster than real time needs a duration: the clock must stay behind the wall clock")
    lead_s = (duration_s or 0.0) * speed if speed > 1 else 0.0
    start = datetime.fromtimestamp((time.time() if now_s is None else now_s) - lead_s, UTC)
    clock = start.hour * 3600.0 + start.minute * 60.0 + start.second + start.microsecond / 1e6
    run_s = lead_s or (duration_s or OPEN_ENDED_FAULT_WINDOW_S)
    sc = replace(scenario, start=start.date(), days=(clock + run_s) / DAY_S + 1)
    window = (clock / DAY_S, (clock + (faults_start_within_s or run_s)) / DAY_S)
    return PublishPlan(sc, mqtt_url, speed=speed, start_s=clock, duration_s=duration_s, fault_window=window, **options)  # type: ignore[arg-type]
