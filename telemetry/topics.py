"""The MQTT topic contract (see docs/vehicles.md)."""

from __future__ import annotations

import zlib

TELEMETRY = "telemetry"
TELEMETRY_ARROW = "telemetry/arrow"
COMMANDS = "commands"
COMMAND_ACKS = "commands/ack"


def vehicle_topic(prefix: str, vin: str, kind: str) -> str:
    return f"{prefix}vehicles/{vin}/{kind}"


def vehicle_filter(prefix: str, kind: str) -> str:
    """Subscription filter for one kind of vehicle topic across the fleet."""
    return f"{prefix}vehicles/+/{kind}"


def rules_topic(prefix: str, partition: int) -> str:
    """Internal topic carrying committed batches to the rule worker that owns the partition."""
    return f"{prefix}internal/rules/{partition}"


def parse_vehicle_topic(prefix: str, topic: str) -> tuple[str, str] | None:
    """(vin, kind) of `{prefix}vehicles/{vin}/{kind}`, or None for any other topic."""
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/", 2)
    if len(parts) != 3 or parts[0] != "vehicles" or not parts[1]:
        return None
    return parts[1], parts[2]


INGEST_SHARE_GROUP = "telemetry-ingest"


def ingest_subscriptions(prefix: str, *, shared: bool) -> list[str]:
    """The fleet's telemetry (JSON and Arrow). Several ingest workers share it through MQTT v5 shared
    subscriptions; a single worker subscribes plainly, because a plain subscription survives a broker
    restart on every broker while Mosquitto 2.0.11 forgets shared ones (see docs/operations.md, "Failures")."""
    filters = [vehicle_filter(prefix, kind) for kind in (TELEMETRY, TELEMETRY_ARROW)]
    return [f"$share/{INGEST_SHARE_GROUP}/{f}" for f in filters] if shared else filters


def ingest_client_id(stem: str, index: int) -> str:
    return f"{stem}-ingest-{index}"


def rules_client_id(stem: str, index: int) -> str:
    return f"{stem}-rules-{index}"


def partition_of(vin: str, partitions: int) -> int:
    """Stable across processes and restarts (unlike `hash`), so a vehicle always meets the same rule worker."""
    return zlib.crc32(vin.encode()) % partitions


def partitions_of(worker: int, workers: int, partitions: int) -> list[int]:
    """The VIN-hash partitions rule worker `worker` of `workers` owns."""
    return [p for p in range(partitions) if p % workers == worker]
