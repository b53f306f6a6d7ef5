"""Why a message, a sample or a value was dead-lettered: stable codes users can filter on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_ARROW = "malformed_arrow"
    INVALID_PAYLOAD = "invalid_payload"
    INVALID_TOPIC = "invalid_topic"
    INVALID_VIN = "invalid_vin"
    VIN_MISMATCH = "vin_mismatch"
    UNKNOWN_VEHICLE = "unknown_vehicle"
    INVALID_TIMESTAMP = "invalid_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_OLD = "too_old"
    UNKNOWN_SIGNAL = "unknown_signal"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    OUT_OF_RANGE = "out_of_range"
    INVALID_VALUE = "invalid_value"
    RATE_LIMITED = "rate_limited"
    SEQ_REGRESSED = "seq_regressed"  # a flag: the samples were stored


@dataclass(frozen=True, slots=True)
class Rejection:
    """One thing that could not be stored; the rest of its message still is."""

    reason: Reason
    detail: str
    signal: str | None = None
    ts_ms: int | None = None
