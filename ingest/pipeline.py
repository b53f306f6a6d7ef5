"""From received MQTT messages to rows to store, dead letters and rule batches. No I/O here.

The worker calls `parse`, looks the VINs up, then calls `prepare`; everything a message holds
ends up either in the rows or in a dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ingest.codec import BatchBuilder, DecodedBatch, Envelope, Limits, parse_envelope
from ingest.codec_arrow import parse_arrow_envelope
from telemetry.catalog import Catalog
from telemetry.reasons import Reason, Rejection
from telemetry.rulebatch import RuleBatch, with_dtcs
from telemetry.storage.deadletters import DeadLetter
from telemetry.storage.samples import SampleWriter, WideRows
from telemetry.topics import TELEMETRY, TELEMETRY_ARROW, parse_vehicle_topic, partition_of

_TS_BITS = 43  # epoch ms below 2**43 (the year 2248); message indexes take the bits above


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    received_ms: int
    over_rate: bool = False  # decided once, on receipt: retries and spool replays never count again


@dataclass
class Parsed:
    received: list[Received]
    outcome: list[Envelope | Rejection]
    vins: list[str | None]

    def vins_to_look_up(self) -> set[str]:
        return {v for v, o in zip(self.vins, self.outcome, strict=True) if v and isinstance(o, Envelope)}


@dataclass(frozen=True, slots=True)
class Counted:
    """A stored message that carried a `seq`: which rows it wrote, to tell new data from redelivery."""

    msg: int
    vehicle_id: int
    seq: int
    keys: frozenset[tuple[int, int]]


@dataclass
class Prepared:
    rows: WideRows
    dead: list[DeadLetter]
    rule_batches: dict[int, RuleBatch] = field(default_factory=dict)
    accepted_values: int = 0
    counted: list[Counted] = field(default_factory=list)
    software_versions: dict[int, str] = field(default_factory=dict)  # vehicle id -> the version it reported
    dropped_samples: dict[int, int] = field(default_factory=dict)  # vehicle id -> its buffer's dropped count


def flag_seq_regressions(
    parsed: Parsed, prepared: Prepared, changed: set[tuple[int, int]], last_seq: dict[int, int | None]
) -> tuple[list[DeadLetter], dict[int, int]]:
    """Messages with new data whose `seq` is below the vehicle's highest so far: stored, but flagged.

    `last_seq` is this worker's own memory: the broker delivers a vehicle's messages to one
    subscriber in order, while several workers commit in any order, so only a per-worker counter
    flags real regressions (a vehicle that reset or replays its counter) and never mere sharing.
    A redelivered message wrote nothing new, so it is never flagged, whatever its seq.
    Returns the flags and each vehicle's new highest seq.
    """
    highest = dict(last_seq)
    flags: list[DeadLetter] = []
    unclaimed = set(changed)  # a new row is credited to the first message that wrote it (first wins)
    for c in prepared.counted:
        if not c.keys & unclaimed:
            continue
        unclaimed -= c.keys
        previous = highest.get(c.vehicle_id)
        if previous is not None and c.seq < previous:
            msg = parsed.received[c.msg]
            flags.append(
                DeadLetter(
                    msg.topic,
                    msg.payload,
                    msg.received_ms,
                    Rejection(Reason.SEQ_REGRESSED, f"seq {c.seq} after {previous}: samples stored", ts_ms=None),
                    parsed.vins[c.msg],
                )
            )
        highest[c.vehicle_id] = max(c.seq, previous if previous is not None else c.seq)
    return flags, {v: s for v, s in highest.items() if s is not None and s != last_seq.get(v)}


def parse(received: list[Received], *, prefix: str, limits: Limits, catalog: Catalog) -> Parsed:
    """Check each message's shape; JSON on .../telemetry, Arrow IPC on .../telemetry/arrow."""
    outcome: list[Envelope | Rejection] = []
    vins: list[str | None] = []
    for msg in received:
        where = parse_vehicle_topic(prefix, msg.topic)
        if where is None or where[1] not in (TELEMETRY, TELEMETRY_ARROW):
            outcome.append(
                Rejection(Reason.INVALID_TOPIC, f"topic {msg.topic!r} is not vehicles/{{vin}}/telemetry[/arrow]")
            )
            vins.append(None)
            continue
        vins.append(where[0])
        if where[1] == TELEMETRY:
            outcome.append(parse_envelope(where[0], msg.payload, limits))
        else:
            outcome.append(parse_arrow_envelope(where[0], msg.payload, limits, catalog))
    return Parsed(received, outcome, vins)


def prepare(
    parsed: Parsed,
    vehicles: dict[str, tuple[int, int]],
    *,
    catalog: Catalog,
    limits: Limits,
    writer: SampleWriter,
    partitions: int,
    now_ms: int,
    location_allowed: set[int] | frozenset[int] = frozenset(),
) -> Prepared:
    """`location_allowed`: the vehicles whose owner allows location history; the location values
    of every other vehicle are withheld (neither stored nor passed to the rules)."""
    builder = BatchBuilder(catalog, limits, now_ms)
    software: dict[int, str] = {}
    dropped: dict[int, int] = {}
    vehicle_of_msg = np.full(len(parsed.received), -1, dtype=np.int64)
    for i, (vin, outcome) in enumerate(zip(parsed.vins, parsed.outcome, strict=True)):
        if isinstance(outcome, Rejection):
            builder.reject(i, outcome)
            continue
        assert vin is not None
        known = vehicles.get(vin)
        if known is None:
            builder.reject(i, Rejection(Reason.UNKNOWN_VEHICLE, f"vehicle {vin} is not registered"))
            continue
        if parsed.received[i].over_rate:
            builder.reject(i, Rejection(Reason.RATE_LIMITED, f"vehicle {vin} sends faster than its rate limit"))
            continue
        vehicle_of_msg[i] = known[0]
        builder.add(i, outcome, default_major=known[1])
        if outcome.software_version is not None:
            software[known[0]] = outcome.software_version
        if outcome.dropped_samples is not None:
            dropped[known[0]] = outcome.dropped_samples
    decoded = _without_private_locations(builder.finish(), vehicle_of_msg, catalog, location_allowed)

    vehicle_id = vehicle_of_msg[decoded.msg].astype(np.int32)
    dtc_rows = [
        (int(vehicle_of_msg[m]), t, c)
        for m, t, c in zip(decoded.dtc_msg, decoded.dtc_ts, decoded.dtc_codes, strict=True)
    ]
    rows = writer.pivot(vehicle_id, decoded.ts, decoded.signal, decoded.value, dtc_rows)

    dead = [
        DeadLetter(msg.topic, msg.payload, msg.received_ms, r, parsed.vins[i])
        for i, rejections in sorted(builder.rejections.items())
        for r in rejections
        for msg in (parsed.received[i],)
    ]
    forward = with_dtcs(RuleBatch(vehicle_id, decoded.ts, decoded.signal, decoded.value), dtc_rows, catalog)
    vin_of_vehicle = {vid: vin for vin, (vid, _major) in vehicles.items()}
    owners, inverse = np.unique(forward.vehicle_id, return_inverse=True)
    part_of_owner = np.array([partition_of(vin_of_vehicle[int(v)], partitions) for v in owners], dtype=np.int64)
    parts = part_of_owner[inverse] if len(owners) else np.empty(0, np.int64)
    batches = {int(p): forward.take(np.flatnonzero(parts == p)) for p in np.unique(parts)}
    return Prepared(rows, dead, batches, len(decoded), _counted(parsed, decoded, vehicle_of_msg), software, dropped)


def _without_private_locations(
    decoded: DecodedBatch, vehicle_of_msg: np.ndarray, catalog: Catalog, allowed: set[int] | frozenset[int]
) -> DecodedBatch:
    withheld = np.isin(decoded.signal, catalog.location_ids) & ~np.isin(vehicle_of_msg[decoded.msg], list(allowed))
    if not withheld.any():
        return decoded
    keep = ~withheld
    return replace(
        decoded, msg=decoded.msg[keep], ts=decoded.ts[keep], signal=decoded.signal[keep], value=decoded.value[keep]
    )


def _counted(parsed: Parsed, decoded: DecodedBatch, vehicle_of_msg: np.ndarray) -> list[Counted]:
    """Per stored message with a `seq`: the (vehicle, time) rows it wrote. The distinct (message,
    time) pairs are found on arrays; a Python object is made per row written, not per value."""
    seq_of = {m: env.seq for m, env in enumerate(parsed.outcome) if isinstance(env, Envelope) and env.seq is not None}
    if not seq_of:
        return []
    msg = np.concatenate([decoded.msg.astype(np.int64), np.asarray(decoded.dtc_msg, dtype=np.int64)])
    ts = np.concatenate([decoded.ts, np.asarray(decoded.dtc_ts, dtype=np.int64)])
    pairs = np.unique((msg << _TS_BITS) | ts)  # by message, then time
    msgs, times = (pairs >> _TS_BITS).tolist(), (pairs & ((1 << _TS_BITS) - 1)).tolist()
    keys: dict[int, list[int]] = {}
    for m, t in zip(msgs, times, strict=True):
        keys.setdefault(m, []).append(t)
    counted = []
    for m, at in keys.items():
        if m in seq_of:
            vehicle = int(vehicle_of_msg[m])
            counted.append(Counted(m, vehicle, seq_of[m], frozenset((vehicle, t) for t in at)))
    return counted
