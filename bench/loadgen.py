"""Load generator for the ingest benchmark: several processes, pre-encoded payloads, paced publishing.

Publishes with `simulators.bulk_publisher` (a deep in-flight window, no per-message await) so that
the generator is not what limits the benchmark; each process reports what it sent. JSON messages
are templates with their timestamps spliced in; Arrow messages (the `telemetry/arrow` topic, long
`ts`, `path`, `value` columns) are encoded per message from prebuilt path and value arrays.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass

import numpy as np
import orjson
import pyarrow as pa

from simulators.bulk_publisher import BulkPublisher
from telemetry.arrow_contract import ipc_stream
from telemetry.topics import TELEMETRY, TELEMETRY_ARROW, vehicle_topic

TICK_S = 0.05
SAMPLE_SPACING_MS = 500


@dataclass(frozen=True)
class LoadPlan:
    mqtt_url: str
    prefix: str
    vins: list[str]
    rate: float  # messages per second, all processes together
    duration_s: float
    signals: dict[str, float]  # per moment
    samples_per_message: int = 2  # moments per message, each with every signal
    fmt: str = "json"  # or "arrow"
    spacing_ms: int = SAMPLE_SPACING_MS  # between a message's moments


class ArrowMessages:
    """Arrow IPC messages of `moments` moments of `signals`, the newest at a given time."""

    def __init__(self, signals: dict[str, float], moments: int, spacing_ms: int) -> None:
        n = len(signals)
        self.offsets = np.repeat((np.arange(moments) - (moments - 1)) * spacing_ms, n).astype(np.int64)
        self.paths = pa.DictionaryArray.from_arrays(
            pa.array(np.tile(np.arange(n, dtype=np.int32), moments)), pa.array(list(signals))
        )
        self.values = pa.array(np.tile(np.array(list(signals.values())), moments))

    def encode(self, newest_ts: int) -> bytes:
        ts = pa.array(self.offsets + newest_ts, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))
        batch = pa.RecordBatch.from_arrays([ts, self.paths, self.values], names=["ts", "path", "value"])
        return ipc_stream(batch)


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


def assemble(parts: list[bytes], newest_ts: int, spacing_ms: int = SAMPLE_SPACING_MS) -> bytes:
    """Samples spaced `spacing_ms` apart, the last one at `newest_ts` (the publish time)."""
    n = len(parts) - 1
    out = bytearray(parts[0])
    for i in range(n):
        out += str(newest_ts - (n - 1 - i) * spacing_ms).encode() + parts[i + 1]
    return bytes(out)


def _publish_share(plan: LoadPlan, share: int, shares: int, out: mp.Queue, topic_override: str | None) -> None:
    vins = plan.vins[share::shares]
    arrow = ArrowMessages(plan.signals, plan.samples_per_message, plan.spacing_ms) if plan.fmt == "arrow" else None
    parts = [] if arrow else [payload_parts(v, plan.signals, plan.samples_per_message) for v in vins]
    kind = TELEMETRY_ARROW if arrow else TELEMETRY
    topics = [topic_override or vehicle_topic(plan.prefix, v, kind) for v in vins]
    out_client = BulkPublisher(plan.mqtt_url, f"bench-load-{share}-{time.time_ns() % 10**9}")
    rate = plan.rate / shares
    sent, i = 0, 0
    started = time.monotonic()
    while time.monotonic() - started < plan.duration_s:
        tick = time.monotonic()
        due = int((tick - started) * rate)  # paced by the clock: a slow tick is made up in the next
        now = time.time_ns() // 1_000_000
        while sent < due and time.monotonic() - started < plan.duration_s:
            k = i % len(vins)
            payload = arrow.encode(now) if arrow else assemble(parts[k], now, plan.spacing_ms)
            out_client.publish(topics[k], payload)
            sent += 1
            i += 1
        time.sleep(max(0.0, TICK_S - (time.monotonic() - tick)))
    elapsed = time.monotonic() - started
    out_client.drain()
    out_client.close()
    print(f"share {share}: sent {sent} failed {out_client.failed} acked {out_client.acked}", flush=True)
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
