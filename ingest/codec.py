"""Decoding and validating telemetry messages: pure functions, no I/O.

Two steps, because the vehicle's VSS version is known only once its VIN is looked up:
`parse_envelope` checks the payload's shape; `BatchBuilder` turns the envelopes of a batch into
columnar numpy arrays and checks every value, vectorised over the whole batch. Whatever fails
becomes a `Rejection` with a precise reason; everything else in the same message is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import orjson

from ingest.columns import Columns
from telemetry import dtc
from telemetry.bounds import MAX_DROPPED_SAMPLES, SOFTWARE_VERSION
from telemetry.catalog import PINNED_MAJOR, Catalog, Resolution
from telemetry.reasons import Reason, Rejection
from telemetry.settings import Settings
from telemetry.timeutil import MS_PER_DAY, iso, parse_ts
from telemetry.vin import is_valid_vin

MAX_SAMPLES_PER_MESSAGE = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int
    max_future_skew_ms: int
    retention_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_payload_bytes=settings.max_payload_bytes,
            max_future_skew_ms=settings.max_future_skew_s * 1000,
            retention_ms=settings.retention_days * MS_PER_DAY,
        )


@dataclass(slots=True)
class Envelope:
    """A telemetry message whose shape is right; its values are not checked yet."""

    vin: str
    seq: int | None
    vss_major: int | None
    samples: list[tuple[object, dict[str, object]]]
    software_version: str | None = None  # what the vehicle reports it runs (software options check it)
    dropped_samples: int | None = None  # samples the vehicle's own buffer dropped, in all (cumulative)
    columns: Columns | None = None  # an Arrow batch's values as arrays (`samples` is then empty)


def _load_json(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as fast_error:
        # orjson rejects NaN/Infinity tokens and numbers beyond double range; the standard
        # library reads them, so such values get the precise reason `not_finite` later on.
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            raise fast_error from None


def check_message(topic_vin: str, payload: bytes, limits: Limits) -> Rejection | None:
    """What every format checks first: the payload's size and the topic's VIN."""
    if len(payload) > limits.max_payload_bytes:
        return Rejection(
            Reason.PAYLOAD_TOO_LARGE,
            f"payload is {len(payload)} bytes, the limit is {limits.max_payload_bytes}",
        )
    if not is_valid_vin(topic_vin):
        return Rejection(Reason.INVALID_VIN, f"topic VIN {topic_vin!r} is not 17 characters of the VIN alphabet")
    return None


def parse_envelope(topic_vin: str, payload: bytes, limits: Limits) -> Envelope | Rejection:
    """Check size, encoding, JSON and structure; the topic's VIN is the vehicle's identity."""
    if rejected := check_message(topic_vin, payload, limits):
        return rejected
    try:
        doc = _load_json(payload)
    except orjson.JSONDecodeError as exc:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as uerr:
            return Rejection(Reason.NOT_UTF8, f"payload is not UTF-8: invalid byte at offset {uerr.start}")
        return Rejection(Reason.MALFORMED_JSON, f"malformed JSON: {exc}")
    if not isinstance(doc, dict):
        return Rejection(Reason.INVALID_PAYLOAD, f"payload must be a JSON object, got {_json_type(doc)}")

    vin = doc.get("vin", topic_vin)
    if not isinstance(vin, str):
        return Rejection(Reason.INVALID_PAYLOAD, f"'vin' must be a string, got {_json_type(vin)}")
    if vin != topic_vin:
        return Rejection(Reason.VIN_MISMATCH, f"payload VIN {vin!r} differs from topic VIN {topic_vin!r}")

    seq = doc.get("seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
        return Rejection(Reason.INVALID_PAYLOAD, f"'seq' must be a non-negative integer, got {seq!r}")

    vss_major: int | None = None
    if "vss" in doc:
        vss_major = _vss_major(doc["vss"])
        if vss_major is None:
            return Rejection(Reason.INVALID_PAYLOAD, f"'vss' must be a VSS release 4.x to 6.x, got {doc['vss']!r}")

    software = doc.get("software_version")
    if software is not None and not (isinstance(software, str) and SOFTWARE_VERSION.match(software)):
        return Rejection(
            Reason.INVALID_PAYLOAD, f"'software_version' must be dotted numbers such as '2.4.1', got {software!r}"
        )

    dropped = doc.get("dropped_samples")
    if dropped is not None and (
        not isinstance(dropped, int) or isinstance(dropped, bool) or not 0 <= dropped <= MAX_DROPPED_SAMPLES
    ):
        return Rejection(
            Reason.INVALID_PAYLOAD,
            f"'dropped_samples' must be an integer 0..{MAX_DROPPED_SAMPLES}, got {dropped!r}",
        )

    if "samples" in doc:
        raw = doc["samples"]
        if not isinstance(raw, list) or not raw:
            return Rejection(Reason.INVALID_PAYLOAD, "'samples' must be a non-empty list")
        if len(raw) > MAX_SAMPLES_PER_MESSAGE:
            return Rejection(
                Reason.INVALID_PAYLOAD, f"'samples' has {len(raw)} entries, the limit is {MAX_SAMPLES_PER_MESSAGE}"
            )
    elif "signals" in doc:
        raw = [doc]
    else:
        return Rejection(Reason.INVALID_PAYLOAD, "payload needs 'samples' (a list) or 'ts' and 'signals'")

    samples: list[tuple[object, dict[str, object]]] = []
    for i, sample in enumerate(raw):
        if not isinstance(sample, dict) or "ts" not in sample or not isinstance(sample.get("signals"), dict):
            return Rejection(Reason.INVALID_PAYLOAD, f"sample #{i}: needs 'ts' and an object 'signals'")
        if not sample["signals"]:
            return Rejection(Reason.INVALID_PAYLOAD, f"sample #{i}: 'signals' is empty: a sample carries a value")
        samples.append((sample["ts"], sample["signals"]))
    return Envelope(vin, seq, vss_major, samples, software, dropped)


def _vss_major(value: object) -> int | None:
    text = str(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else ""
    head = text.split(".", 1)[0]
    major = int(head) if head.isdigit() else None
    return major if major in (4, 5, 6) else None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


@dataclass
class DecodedBatch:
    """Valid values of a batch of messages, as columns; `msg` indexes the batch's messages."""

    msg: np.ndarray  # int32
    ts: np.ndarray  # int64, epoch ms
    signal: np.ndarray  # int16, catalog signal id
    value: np.ndarray  # float64, pinned unit
    dtc_msg: list[int] = field(default_factory=list)
    dtc_ts: list[int] = field(default_factory=list)
    dtc_codes: list[tuple[str, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts) + len(self.dtc_ts)


class BatchBuilder:
    """Accumulates envelopes; `finish()` checks all values at once and returns the columns."""

    def __init__(self, catalog: Catalog, limits: Limits, now_ms: int) -> None:
        self.catalog = catalog
        self.limits = limits
        self.now_ms = now_ms
        self.rejections: dict[int, list[Rejection]] = {}
        self._msg: list[int] = []
        self._ts: list[int] = []
        self._sig: list[int] = []
        self._raw: list[object] = []
        self._scale: list[float] = []
        self._offset: list[float] = []
        self._sent: list[str] = []
        # plain Arrow batches, as arrays: msg, ts, signal, raw, scale, offset, sent
        self._chunks: list[tuple[np.ndarray, ...]] = []
        self._dtc = DecodedBatch(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0))

    def reject(self, msg: int, rejection: Rejection) -> None:
        self.rejections.setdefault(msg, []).append(rejection)

    def add(self, msg: int, env: Envelope, default_major: int = PINNED_MAJOR) -> None:
        resolver = self.catalog.resolver(env.vss_major or default_major)
        oldest = self.now_ms - self.limits.retention_ms
        newest = self.now_ms + self.limits.max_future_skew_ms
        samples = env.samples
        if env.columns is not None:
            plain = env.columns.plain(resolver, oldest, newest)
            if plain is not None:
                columns = env.columns
                msgs = np.full(len(columns.ts), msg, dtype=np.int32)
                self._chunks.append(
                    (msgs, columns.ts, plain.signal, columns.value, plain.scale, plain.offset, plain.sent)
                )
                return
            samples = env.columns.moments()
        for raw_ts, signals in samples:
            ts = parse_ts(raw_ts)
            if ts is None:
                self.reject(
                    msg,
                    Rejection(
                        Reason.INVALID_TIMESTAMP,
                        f"timestamp {raw_ts!r} is neither integer epoch milliseconds nor RFC 3339 with an offset",
                    ),
                )
                continue
            if ts > newest:
                self.reject(
                    msg,
                    Rejection(
                        Reason.FUTURE_TIMESTAMP,
                        f"timestamp {iso(ts)} is {(ts - self.now_ms) // 1000} s in the future "
                        f"(limit {self.limits.max_future_skew_ms // 1000} s)",
                        ts_ms=ts,
                    ),
                )
                continue
            if ts < oldest:
                self.reject(
                    msg,
                    Rejection(
                        Reason.TOO_OLD,
                        f"timestamp {iso(ts) if ts > -62135596800000 else ts} is older than the retention window "
                        f"of {self.limits.retention_ms // MS_PER_DAY} days",
                        ts_ms=ts,
                    ),
                )
                continue
            for path, value in signals.items():
                res = resolver.get(path)
                if res is None:
                    self.reject(msg, Rejection(Reason.UNKNOWN_SIGNAL, f"unknown signal {path!r}", path, ts))
                    continue
                self._add_value(msg, ts, path, value, res)

    def _add_value(self, msg: int, ts: int, path: str, value: object, res: Resolution) -> None:
        kind = res.signal.kind
        if kind == "number":
            ok = type(value) is float or type(value) is int
        elif kind == "boolean":
            ok = value is True or value is False
        else:
            self._add_dtcs(msg, ts, path, value)
            return
        if not ok:
            self.reject(
                msg,
                Rejection(
                    Reason.WRONG_TYPE,
                    f"signal {path!r} expects {res.signal.datatype}, got {_json_type(value)} {_short(value)}",
                    path,
                    ts,
                ),
            )
            return
        self._msg.append(msg)
        self._ts.append(ts)
        self._sig.append(res.signal.id)
        self._raw.append(
            float(cast(float, value)) if not isinstance(value, int) or abs(value) < 2**63 else float("inf")
        )
        self._scale.append(res.scale)
        self._offset.append(res.offset)
        self._sent.append(path)

    def _add_dtcs(self, msg: int, ts: int, path: str, value: object) -> None:
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            self.reject(
                msg,
                Rejection(
                    Reason.WRONG_TYPE, f"signal {path!r} expects a list of strings, got {_json_type(value)}", path, ts
                ),
            )
            return
        codes = tuple(sorted({c.strip().upper() for c in value}))
        bad = [c for c in codes if not dtc.is_valid(c)]
        if bad:
            self.reject(
                msg,
                Rejection(
                    Reason.INVALID_VALUE,
                    f"signal {path!r}: {', '.join(repr(b) for b in bad[:5])} is not an OBD-II trouble code "
                    "(letter P/C/B/U, then 4 hex digits)",
                    path,
                    ts,
                ),
            )
            codes = tuple(c for c in codes if c not in bad)
            if not codes and value:
                return
        self._dtc.dtc_msg.append(msg)
        self._dtc.dtc_ts.append(ts)
        self._dtc.dtc_codes.append(codes)

    def finish(self) -> DecodedBatch:
        """Check finiteness and physical range of every numeric value, vectorised."""
        listed = (
            np.asarray(self._msg, dtype=np.int32),
            np.asarray(self._ts, dtype=np.int64),
            np.asarray(self._sig, dtype=np.int16),
            np.asarray(self._raw, dtype=np.float64),
            np.asarray(self._scale, dtype=np.float64),
            np.asarray(self._offset, dtype=np.float64),
            np.asarray(self._sent, dtype=object),
        )
        msg, ts, sig, raw, scale, offset, sent_as = (
            np.concatenate([listed[k], *(c[k] for c in self._chunks)]) for k in range(len(listed))
        )
        value = raw * scale + offset
        lo, hi = self.catalog.bounds
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(value)
            in_range = (value >= lo[sig]) & (value <= hi[sig])
        good = finite & in_range
        for i in np.flatnonzero(~good):
            s = self.catalog.signals[sig[i]]
            sent, at, msg_i = str(sent_as[i]), int(ts[i]), int(msg[i])
            if not finite[i]:
                self.reject(
                    msg_i,
                    Rejection(
                        Reason.NOT_FINITE, f"signal {sent!r} value {float(raw[i])} is not a finite number", sent, at
                    ),
                )
            else:
                shown = f"{_num(value[i])} {s.unit or ''}".rstrip()
                self.reject(
                    msg_i,
                    Rejection(
                        Reason.OUT_OF_RANGE,
                        f"signal {sent!r} value {shown} is outside the valid range {s.describe_range()}",
                        sent,
                        at,
                    ),
                )
        return DecodedBatch(
            msg=msg[good],
            ts=ts[good],
            signal=sig[good],
            value=value[good],
            dtc_msg=self._dtc.dtc_msg,
            dtc_ts=self._dtc.dtc_ts,
            dtc_codes=self._dtc.dtc_codes,
        )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
