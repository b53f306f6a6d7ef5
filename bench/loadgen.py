"""Load generator for the ingest benchmark: several processes, pre-encoded payloads, paced publishing.

Uses paho-mqtt directly (a deep in-flight window, no per-message await) so that the generator is
not what limits the benchmark; each process reports what it sent.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.mqtt import broker_address
from telemetry.topics import TELEMETRY, vehicle_topic

TICK_S = 0.05
SAMPLE_SPACING_MS = 500


@dataclass(frozen=True)
class LoadPlan:
    mqtt_url: str
    prefix: str
    vins: list[str]
    rate: float  # messages per second, all processes together
    duration_s: float
    signals: dict[str, float]  # per sample
    samples_per_message: int = 2


def payload_parts(vin: str, signals: dict[str, float], samples: int) -> list[bytes]:
    """The message split around its timestamps: parts[0] ts parts[1] ts parts[2] ..."""
    marker = 1_111_111_111_111
    doc = {"vin": vin, "samples": [{"ts": marker + i, "signals": signals} for i in range(samples)]}
    text = orjson.dumps(doc)
    parts, rest = [], text
    for i in range(samples):
        head, _, rest = rest.partition(str(marker + i).encode())
        parts.append(head)
    parts.append(rest)
    return parts


def assemble(parts: list[bytes], newest_ts: int) -> bytes:
    """Samples spaced SAMPLE_SPACING_MS apart, the last one at `newest_ts` (the publish time)."""
    n = len(parts) - 1
    out = bytearray(parts[0])
    for i in range(n):
        out += str(newest_ts - (n - 1 - i) * SAMPLE_SPACING_MS).encode() + parts[i + 1]
    return bytes(out)


MAX_OUTSTANDING = 5000


class _Acks:
    """Counts PUBACKs so the publisher can hold back instead of queueing without bound."""

    def __init__(self) -> None:
        self.count = 0

    def on_publish(self, *_args: object) -> None:
        self.count += 1


def _connect(url: str, client_id: str, acks: _Acks) -> paho.Client:
    host, port = broker_address(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    client.max_inflight_messages_set(MAX_OUTSTANDING)
    client.on_publish = acks.on_publish
    client.connect(host, port, keepalive=60)
    client.loop_start()
    return client


def _publish_share(plan: LoadPlan, share: int, shares: int, out: mp.Queue, topic_override: str | None) -> None:
    vins = plan.vins[share::shares]
    parts = [payload_parts(v, plan.signals, plan.samples_per_message) for v in vins]
    topics = [topic_override or vehicle_topic(plan.prefix, v, TELEMETRY) for v in vins]
    acks = _Acks()
    client = _connect(plan.mqtt_url, f"bench-load-{share}-{time.time_ns() % 10**9}", acks)
    rate = plan.rate / shares
    sent, failed, i = 0, 0, 0
    started = time.monotonic()
    while time.monotonic() - started < plan.duration_s:
        tick = time.monotonic()
        due = int((tick - started) * rate)  # paced by the clock: a slow tick is made up in the next
        now = time.time_ns() // 1_000_000
        while sent < due and time.monotonic() - started < plan.duration_s:
            while sent - acks.count >= MAX_OUTSTANDING:
                time.sleep(0.001)
            k = i % len(vins)
            info = client.publish(topics[k], assemble(parts[k], now), qos=1)
            if info.rc != 0:
                failed += 1
            sent += 1
            i += 1
        time.sleep(max(0.0, TICK_S - (time.monotonic() - tick)))
    elapsed = time.monotonic() - started
    deadline = time.monotonic() + 30
    while acks.count < sent and time.monotonic() < deadline:
        time.sleep(0.01)
    client.loop_stop()
    client.disconnect()
    print(f"share {share}: sent {sent} failed {failed} acked {acks.count}", flush=True)
    out.put((sent, elapsed))


def run_load(plan: LoadPlan, processes: int, topic_override: str | None = None) -> tuple[int, float]:
    """Publish according to `plan` from `processes` processes; returns (messages sent, seconds)."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [
        ctx.Process(target=_publish_share, args=(plan, i, processes, out, topic_override)) for i in range(processes)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(r[0] for r in results), max(r[1] for r in results)
