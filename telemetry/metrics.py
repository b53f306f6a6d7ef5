"""Prometheus metrics shared by every process of the server.

`telemetry serve` gives its children one PROMETHEUS_MULTIPROC_DIR; each process writes its
metrics there and the API's `/metrics` adds them up. A component run alone without that
variable keeps its metrics in its own process.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

MESSAGES = Counter("telemetry_ingest_messages", "MQTT telemetry messages taken in by ingest")
SAMPLES = Counter("telemetry_ingest_samples", "Signal values accepted for storage")
DEAD_LETTERS = Counter("telemetry_ingest_dead_letters", "Dead-lettered items, by reason", ["reason"])
BATCH_MESSAGES = Histogram(
    "telemetry_ingest_batch_messages", "Messages per stored batch", buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000)
)
COMMIT_SECONDS = Histogram(
    "telemetry_ingest_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RECEIVE_TO_COMMIT_SECONDS = Histogram(
    "telemetry_ingest_receive_to_commit_seconds",
    "From a batch's first message received to its commit",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30),
)
PENDING = Gauge("telemetry_ingest_pending_messages", "Received, not yet stored", multiprocess_mode="livesum")
SPOOLED = Counter("telemetry_ingest_spooled_messages", "Messages written to the disk spool during an outage")
SPOOL_FILES = Gauge("telemetry_ingest_spool_files", "Batches waiting in the disk spool", multiprocess_mode="livesum")
DATABASE_RETRIES = Counter("telemetry_ingest_database_retries", "Batch writes retried because the database failed")
BROKER_CONNECTED = Gauge(
    "telemetry_broker_connected", "1 while connected to the broker", ["component"], multiprocess_mode="livemax"
)
RULE_BATCH_SECONDS = Histogram(
    "telemetry_rules_batch_seconds",
    "Rule worker: from receiving a committed batch to its alerts and state committed",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2.5),
)
WEBHOOK_ATTEMPTS = Counter(
    "telemetry_webhook_attempts", "Webhook delivery attempts, by outcome: delivered, retry, dead", ["outcome"]
)
ALERT_EVENTS = Counter("telemetry_alert_events", "Alerts fired or cleared by the rule engine", ["rule", "event"])


def render() -> bytes:
    """The exposition text, summed over processes when running under `telemetry serve`."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
        return generate_latest(registry)
    return generate_latest()


def prepare_directory(path: Path) -> Path:
    """An empty directory for a new run's metric files."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path


def forget_process(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]  # untyped upstream
